//! The guard every HTTP request passes before a transport sees it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::held::Held;
use super::limits::{Inflight, SessionBudget};
use super::paths::{HEALTH_PATH, MCP_PATH, MESSAGES_PATH, SSE_PATH};
use crate::server::hold::CallHold;
use crate::web::{BodyCap, HostRules, OriginRules, body_too_large, error_response};

/// What the guard checks, shared by every request.
pub(super) struct Guard {
    pub(super) token: Option<SecretString>,
    pub(super) hosts: HostRules,
    pub(super) origins: OriginRules,
    /// How much of a body is read, and how long it may take to arrive.
    pub(super) body: BodyCap,
    pub(super) budget: Arc<SessionBudget>,
    pub(super) inflight: Arc<Inflight>,
    pub(super) stateless: bool,
    pub(super) shutting_down: AtomicBool,
    /// Cancelled when the shutdown grace period ends: calls still running
    /// are answered with a JSON-RPC error instead of a dropped stream.
    pub(super) cut: CancellationToken,
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
    if is_oauth_discovery(&path) {
        return refused(oauth_not_supported());
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
    if guard.body.declared_too_large(request.headers()) {
        return refused(body_too_large(guard.body.max_bytes));
    }
    if path != MCP_PATH || !(method == Method::POST || method == Method::DELETE) {
        return next.run(request).await;
    }

    // A Streamable HTTP request. A POST is read first (it is small and
    // bounded) to tell an `initialize` from a call, and to know the call's
    // JSON-RPC id should shutdown cut it off.
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (mut request, peeked) = if method == Method::POST {
        match peek(request, guard.body).await {
            Ok(peeked) => peeked,
            Err(response) => return refused(response),
        }
    } else {
        (request, Peeked::default())
    };
    let is_initialize = session.is_none() && peeked.is_initialize;
    let refusals_before = guard.budget.refusals();
    if is_initialize && !guard.stateless && guard.budget.is_full() {
        return refused(too_many_sessions(guard.budget.cap()));
    }
    // One permit per request in flight, held until both the handler has
    // returned and the response body (possibly an SSE stream) has ended,
    // whatever the client does meanwhile: rmcp hands the request's
    // extensions to the handler (see `SecretsServer::call_tool`). An `initialize` needs none: it
    // makes no upstream call, and the session cap bounds it; many agents
    // behind one address may well start at once.
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
        let permit = CallHold::new(permit);
        request.extensions_mut().insert(permit.clone());
        Some(permit)
    };
    let cut_off = peeked.id.filter(|_| permit.is_some());
    let mut response = match &cut_off {
        Some(id) => tokio::select! {
            response = next.run(request) => response,
            // A JSON answer (stateless mode) is only sent once the handler is done.
            () = guard.cut.cancelled() => {
                return axum::Json(shutdown_error(id)).into_response();
            }
        },
        None => next.run(request).await,
    };
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
    let response = match cut_off {
        Some(id) => error_at_cut(response, &id, guard.cut.clone()),
        None => response,
    };
    match permit {
        Some(permit) => hold_until_body_ends(response, permit),
        None => response,
    }
}

/// Paths OAuth-capable MCP clients probe after a 401 (RFC 9728 protected
/// resource metadata, RFC 8414 authorization server metadata, OpenID
/// discovery, dynamic client registration and the usual endpoints), with or
/// without a path suffix or prefix.
fn is_oauth_discovery(path: &str) -> bool {
    const WELL_KNOWN: [&str; 3] = [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ];
    WELL_KNOWN.iter().any(|known| {
        path.match_indices(known).any(|(at, _)| {
            let rest = &path[at + known.len()..];
            rest.is_empty() || rest.starts_with('/')
        })
    }) || matches!(path, "/register" | "/authorize" | "/token")
}

/// This server has no OAuth: one fixed answer, with no authentication
/// needed, so a client stops looking and says what is wrong.
fn oauth_not_supported() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "oauth_not_supported",
        "This MCP server does not use OAuth and offers no authorization-server discovery or client registration. It \
         takes one static bearer token, which the operator sets in MCP_AUTH_TOKEN: configure your client to send the \
         header `Authorization: Bearer <token>` on every request.",
    )
}

/// The JSON-RPC error a call gets when shutdown cuts it off.
fn shutdown_error(id: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": SHUTTING_DOWN_CODE,
            "message": SHUTTING_DOWN_MESSAGE,
        }
    })
}

/// JSON-RPC server error code for a call cut off by shutdown.
pub(super) const SHUTTING_DOWN_CODE: i32 = -32000;
/// What a call cut off by shutdown is told.
pub(super) const SHUTTING_DOWN_MESSAGE: &str = "The server is shutting down and stopped waiting for this call at the \
     end of its grace period (MCP_SHUTDOWN_GRACE_SECS). It may or may not have taken effect: check with \
     list_tenant_secrets once the server is back, then retry if needed.";

/// Ends an SSE response with [`shutdown_error`] if `cut` fires before it
/// has ended; other responses are already complete and pass unchanged.
fn error_at_cut(response: Response, id: &Value, cut: CancellationToken) -> Response {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return response;
    }
    let event = Bytes::from(format!("event: message\ndata: {}\n\n", shutdown_error(id)));
    let (parts, body) = response.into_parts();
    let chunks = stream::unfold(
        (body.into_data_stream(), cut, Some(event)),
        |(mut body, cut, event)| async move {
            let event = event?;
            tokio::select! {
                biased;
                chunk = body.next() => chunk.map(|chunk| (chunk, (body, cut, Some(event)))),
                () = cut.cancelled() => Some((Ok(event), (body, cut, None))),
            }
        },
    );
    Response::from_parts(parts, Body::from_stream(chunks))
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
             as `Authorization: Bearer <token>`; the OSC personal access token is never accepted here. This server uses \
             no OAuth: configure the header in the client instead of signing in.",
        )
    } else {
        (
            r#"Bearer realm="osc-secrets-mcp""#,
            "This server requires a bearer token: send `Authorization: Bearer <token>` with the token the operator set in \
             MCP_AUTH_TOKEN. The OSC personal access token is never accepted here. This server uses no OAuth: configure \
             the header in the client instead of signing in.",
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

/// What [`peek`] learnt of a POST body.
#[derive(Default)]
struct Peeked {
    is_initialize: bool,
    /// The JSON-RPC id of a request (a number or a string); None for
    /// notifications and for the client's responses.
    id: Option<Value>,
}

/// Reads a body (bounded in size and time) and tells whether it is an
/// `initialize` request and what its id is; hands the request on unchanged.
/// Nothing but the method name and the id is kept.
async fn peek(request: Request, cap: BodyCap) -> Result<(Request, Peeked), Response> {
    #[derive(serde::Deserialize)]
    struct Peek {
        method: Option<String>,
        id: Option<Value>,
    }
    let (parts, body) = request.into_parts();
    let bytes = cap.read(body).await.map_err(IntoResponse::into_response)?;
    let peek = serde_json::from_slice::<Peek>(&bytes).ok();
    let peeked = Peeked {
        is_initialize: peek
            .as_ref()
            .and_then(|m| m.method.as_deref())
            .is_some_and(|m| m == "initialize"),
        // Only a request (a method and an id) is answered; a client's own
        // response to the server carries an id but no method.
        id: peek
            .filter(|m| m.method.is_some())
            .and_then(|m| m.id)
            .filter(|id| id.is_number() || id.is_string()),
    };
    Ok((Request::from_parts(parts, Body::from(bytes)), peeked))
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
fn hold_until_body_ends(response: Response, permit: CallHold) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::new(Held::new(body, permit)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
    fn oauth_discovery_paths() {
        for probe in [
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-authorization-server/mcp",
            "/.well-known/openid-configuration",
            "/mcp/.well-known/openid-configuration",
            "/register",
            "/authorize",
            "/token",
        ] {
            assert!(is_oauth_discovery(probe), "{probe}");
        }
        for other in [
            "/mcp",
            "/.well-known/oauth-protected-resourcex",
            "/tokens",
            "/.well-known/other",
        ] {
            assert!(!is_oauth_discovery(other), "{other}");
        }
    }

    #[test]
    fn bearer_auth() {
        let guard = |token: Option<&str>| Guard {
            token: token.map(|t| SecretString::from(t.to_owned())),
            hosts: HostRules::parse(&[], "127.0.0.1:1".parse().unwrap()).unwrap(),
            origins: OriginRules::parse(&[]).unwrap(),
            body: BodyCap {
                max_bytes: 1,
                timeout: Duration::from_secs(1),
            },
            budget: Arc::new(SessionBudget::new(1)),
            inflight: Arc::new(Inflight::new(1)),
            stateless: false,
            shutting_down: AtomicBool::new(false),
            cut: CancellationToken::new(),
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
