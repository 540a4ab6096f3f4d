//! The guard every HTTP request passes before a transport sees it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::limits::{Inflight, Permit, SessionBudget};
use super::paths::{HEALTH_PATH, MCP_PATH, MESSAGES_PATH, SSE_PATH};
use crate::web::{HostRules, OriginRules, body_too_large, error_response};

/// What the guard checks, shared by every request.
pub(super) struct Guard {
    pub(super) token: Option<SecretString>,
    pub(super) hosts: HostRules,
    pub(super) origins: OriginRules,
    pub(super) max_body_bytes: usize,
    pub(super) budget: Arc<SessionBudget>,
    pub(super) inflight: Arc<Inflight>,
    pub(super) stateless: bool,
    pub(super) shutting_down: AtomicBool,
}

pub(super) async fn guard_layer(
    State(guard): State<Arc<Guard>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    // A browser on an allowed origin may read the answer (CORS); any other
    // origin was refused before anything ran.
    let cors_origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|_| guard.origins.check(request.headers()).is_ok())
        .cloned();
    let mut response = guarded(&guard, peer, request, next).await;
    if let Some(origin) = cors_origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(
                "mcp-session-id, mcp-protocol-version, www-authenticate, retry-after",
            ),
        );
    }
    response
}

/// A CORS preflight: browsers send it without credentials before a request
/// that carries `Authorization`. Only reached once Host and Origin passed.
fn preflight(headers: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_static("authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id")
        });
    out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

async fn guarded(guard: &Guard, peer: SocketAddr, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // Only known paths are logged: anything else a client sends stays out of the log.
    let endpoint = [MCP_PATH, SSE_PATH, MESSAGES_PATH, HEALTH_PATH]
        .into_iter()
        .find(|known| *known == path)
        .unwrap_or("(other)");
    let refused = |response: Response| {
        tracing::info!(
            %method,
            path = endpoint,
            peer = %peer.ip(),
            status = response.status().as_u16(),
            "request refused"
        );
        response
    };
    if let Err(refusal) = guard.hosts.check(request.uri(), request.headers()) {
        return refused(refusal.into_response());
    }
    if let Err(refusal) = guard.origins.check(request.headers()) {
        return refused(refusal.into_response());
    }
    if let Some(response) = credentials_in_query(request.uri()) {
        return refused(response);
    }
    if method == Method::OPTIONS {
        return preflight(request.headers());
    }
    if path == HEALTH_PATH {
        return if guard.shutting_down.load(Ordering::SeqCst) {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "shutting down" })),
            )
                .into_response()
        } else {
            next.run(request).await
        };
    }
    if guard.shutting_down.load(Ordering::SeqCst) {
        return refused(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "The server is shutting down. Retry in a moment (or against another replica).",
        ));
    }
    if let Err(refusal) = guard.authenticate(request.headers()) {
        return refused(refusal.into_response());
    }
    if content_length(request.headers()).is_some_and(|len| len > guard.max_body_bytes as u64) {
        return refused(body_too_large(guard.max_body_bytes));
    }
    if path != MCP_PATH || !(method == Method::POST || method == Method::DELETE) {
        return next.run(request).await;
    }

    // A Streamable HTTP request. A sessionless POST is read first (it is
    // small and bounded) to tell an `initialize` from a sessionless call.
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (request, is_initialize) = if method == Method::POST && session.is_none() {
        match peek_initialize(request, guard.max_body_bytes).await {
            Ok(peeked) => peeked,
            Err(response) => return refused(response),
        }
    } else {
        (request, false)
    };
    let refusals_before = guard.budget.refusals();
    if is_initialize && !guard.stateless && guard.budget.is_full() {
        return refused(too_many_sessions(guard.budget.cap()));
    }
    // One permit per request in flight, held until its response body
    // (possibly an SSE stream) ends. An `initialize` needs none: it makes no
    // upstream call, and the session cap bounds it; many agents behind one
    // address may well start at once.
    let permit = if is_initialize {
        None
    } else {
        let client = match &session {
            Some(id) => format!("session:{id}"),
            None => format!("addr:{}", peer.ip()),
        };
        let Some(permit) = guard.inflight.try_acquire(client) else {
            return refused(too_many_requests(guard.inflight.max_per_client()));
        };
        Some(permit)
    };
    let mut response = next.run(request).await;
    if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
        // The session is gone, not queued for deletion; clients expect 200 or 204.
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    let response = sanitize_mcp_response(response);
    // A session the cap refused after the check above (a race with another
    // `initialize`) surfaces from rmcp as a 500; the budget knows it was one.
    let response = if is_initialize
        && response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && guard.budget.refusals() != refusals_before
    {
        too_many_sessions(guard.budget.cap())
    } else {
        response
    };
    match permit {
        Some(permit) => hold_until_body_ends(response, permit),
        None => response,
    }
}

impl Guard {
    /// Checks `Authorization: Bearer <token>` in constant time. Never says
    /// whether a wrong token is some other credential.
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), AuthRefusal> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(AuthRefusal::MissingToken);
        };
        if values.next().is_some() {
            return Err(AuthRefusal::InvalidToken);
        }
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match presented {
            Some(token)
                if bool::from(token.as_bytes().ct_eq(expected.expose_secret().as_bytes())) =>
            {
                Ok(())
            }
            _ => Err(AuthRefusal::InvalidToken),
        }
    }
}

pub(super) async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

pub(super) async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "Nothing here. MCP clients connect to {MCP_PATH} (Streamable HTTP) or {SSE_PATH} (legacy HTTP+SSE); {HEALTH_PATH} reports health."
        ),
    )
}

const SESSION_HEADER: &str = "mcp-session-id";

/// A client that did not prove it holds this server's bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthRefusal {
    MissingToken,
    InvalidToken,
}

impl IntoResponse for AuthRefusal {
    fn into_response(self) -> Response {
        unauthorized(self == AuthRefusal::InvalidToken)
    }
}

fn unauthorized(presented: bool) -> Response {
    let (challenge, message) = if presented {
        (
            r#"Bearer realm="osc-secrets-mcp", error="invalid_token", error_description="The bearer token is not valid for this server""#,
            "The bearer token is not valid for this server. Send this server's own token (the operator's MCP_AUTH_TOKEN) \
             as `Authorization: Bearer <token>`; the OSC personal access token is never accepted here.",
        )
    } else {
        (
            r#"Bearer realm="osc-secrets-mcp""#,
            "This server requires a bearer token: send `Authorization: Bearer <token>` with the token the operator set in \
             MCP_AUTH_TOKEN. The OSC personal access token is never accepted here.",
        )
    };
    let mut response = error_response(StatusCode::UNAUTHORIZED, "unauthorized", message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

pub(crate) fn too_many_requests(limit: usize) -> Response {
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!(
            "This client already has {limit} requests in flight (MCP_MAX_CONCURRENT_PER_CLIENT). Wait for one to finish, then retry."
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub(crate) fn too_many_sessions(cap: usize) -> Response {
    let mut response = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_sessions",
        format!(
            "The server already holds its maximum of {cap} sessions (MCP_MAX_SESSIONS). Close an unused session or retry \
             once idle ones expire."
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Query parameter names that carry credentials, compared lowercase without
/// `-` and `_`; any name containing `token` counts too.
const CREDENTIAL_PARAMS: [&str; 12] = [
    "auth",
    "authorization",
    "bearer",
    "apikey",
    "key",
    "jwt",
    "pat",
    "password",
    "passwd",
    "secret",
    "credential",
    "credentials",
];

/// A credential in the URL ends up in proxy logs, browser history and
/// `Referer` headers; refuse it whatever its value.
fn credentials_in_query(uri: &Uri) -> Option<Response> {
    let query = uri.query()?;
    let found = query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or_default().replace('+', " ");
        let name: String = percent_decode_str(&name)
            .decode_utf8_lossy()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        name.contains("token") || CREDENTIAL_PARAMS.contains(&name.as_str())
    });
    found.then(|| {
        error_response(
            StatusCode::BAD_REQUEST,
            "credentials_in_query",
            "Credentials are never accepted in the URL, where proxies, logs and browser history keep them. Send the token \
             in the `Authorization: Bearer <token>` header instead, and treat a token that was put in a URL as leaked.",
        )
    })
}

/// Reads a body (bounded) and tells whether it is an `initialize` request;
/// hands the request on unchanged. Nothing but the method name is kept.
async fn peek_initialize(request: Request, max_body: usize) -> Result<(Request, bool), Response> {
    #[derive(serde::Deserialize)]
    struct Peek {
        method: Option<String>,
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, max_body)
        .await
        .map_err(|_| body_too_large(max_body))?;
    let is_initialize = serde_json::from_slice::<Peek>(&bytes)
        .ok()
        .and_then(|m| m.method)
        .is_some_and(|m| m == "initialize");
    Ok((Request::from_parts(parts, Body::from(bytes)), is_initialize))
}

/// rmcp's plain-text error bodies can quote serde errors about the request
/// body, and so fragments of it; replace them with fixed sentences.
fn sanitize_mcp_response(response: Response) -> Response {
    let status = response.status();
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return error_response(
            status,
            "unsupported_body",
            "The body must be one JSON-RPC message, sent with `Content-Type: application/json`.",
        );
    }
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return error_response(
            status,
            "internal_error",
            "The server could not handle this request; the server log says why.",
        );
    }
    response
}

/// Keeps `permit` until the response body has been sent or dropped.
fn hold_until_body_ends(response: Response, permit: Permit) -> Response {
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::test_headers as headers;

    #[test]
    fn query_credentials() {
        for bad in [
            "access_token=x",
            "token=x",
            "a=1&API-Key=x",
            "Auth=x",
            "sessionId=1&id_token=2",
            "x%5Ftoken=1",
            "key",
        ] {
            let uri: Uri = format!("/mcp?{bad}").parse().unwrap();
            assert!(credentials_in_query(&uri).is_some(), "{bad}");
        }
        for ok in ["sessionId=abc", "", "monkey=1"] {
            let uri: Uri = format!("/messages?{ok}").parse().unwrap();
            assert!(credentials_in_query(&uri).is_none(), "{ok}");
        }
    }

    #[test]
    fn bearer_auth() {
        let guard = |token: Option<&str>| Guard {
            token: token.map(|t| SecretString::from(t.to_owned())),
            hosts: HostRules::parse(&[], "127.0.0.1:1".parse().unwrap()).unwrap(),
            origins: OriginRules::parse(&[]).unwrap(),
            max_body_bytes: 1,
            budget: Arc::new(SessionBudget::new(1)),
            inflight: Arc::new(Inflight::new(1)),
            stateless: false,
            shutting_down: AtomicBool::new(false),
        };
        let g = guard(Some("right-token-0123456789"));
        assert!(
            g.authenticate(&headers(&[(
                "authorization",
                "Bearer right-token-0123456789"
            )]))
            .is_ok()
        );
        assert!(
            g.authenticate(&headers(&[(
                "authorization",
                "bearer  right-token-0123456789 "
            )]))
            .is_ok()
        );
        for bad in [
            "Bearer wrong",
            "Basic right-token-0123456789",
            "right-token-0123456789",
            "Bearer",
        ] {
            let refusal = g
                .authenticate(&headers(&[("authorization", bad)]))
                .unwrap_err();
            assert_eq!(refusal, AuthRefusal::InvalidToken);
            let response = refusal.into_response();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert!(
                response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
        }
        let missing = g.authenticate(&HeaderMap::new()).unwrap_err();
        assert_eq!(missing, AuthRefusal::MissingToken);
        assert_eq!(missing.into_response().status(), StatusCode::UNAUTHORIZED);
        assert!(guard(None).authenticate(&HeaderMap::new()).is_ok());
    }
}
