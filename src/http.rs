//! `--transport http`: one listener serving the tool handler over Streamable
//! HTTP (`/mcp`), the legacy HTTP+SSE transport (`/sse` and `/messages`, see
//! [`crate::sse`]) and a health check (`/healthz`).
//!
//! Every request passes one guard before it reaches a transport: Host and
//! Origin validation (DNS-rebinding protection), refusal of credentials in
//! the query string, the server's own bearer token, the body size limit, a
//! cap on concurrent sessions and a per-client cap on requests in flight.
//! None of the transports knows what a secret is, and nothing here ever
//! reads, forwards or logs a token or a tool argument.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use percent_encoding::percent_decode_str;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::sse::LegacySse;
use crate::tools::SecretsServer;

/// Streamable HTTP endpoint.
pub const MCP_PATH: &str = "/mcp";
/// Legacy HTTP+SSE event stream.
pub const SSE_PATH: &str = "/sse";
/// Legacy HTTP+SSE message endpoint.
pub const MESSAGES_PATH: &str = "/messages";
/// Health check; needs no token.
pub const HEALTH_PATH: &str = "/healthz";

/// Host names that are always accepted: a DNS-rebinding attack always
/// arrives under the attacker's own name, never under these.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// How often an SSE stream carries a comment to keep proxies from closing it.
pub(crate) const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long to wait for connections after in-flight calls drained or the grace period ended.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Everything `--transport http` needs besides the handler. No `Debug`: it
/// holds the token.
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// The bearer token clients must present; None serves without
    /// authentication, which [`HttpConfig::check`] allows on loopback only.
    pub auth_token: Option<SecretString>,
    /// Extra Host names (or host:port) besides loopback; `*` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins besides loopback ones.
    pub allowed_origins: Vec<String>,
    pub stateless: bool,
    pub max_body_bytes: usize,
    pub max_sessions: usize,
    pub session_idle: Duration,
    pub max_concurrent_per_client: usize,
    pub shutdown_grace: Duration,
}

impl HttpConfig {
    /// Start-up checks. Returns warnings to print, or the reason not to start.
    /// `osc_token` is the upstream token: the clients' token must differ.
    pub fn check(&self, osc_token: &SecretString) -> Result<Vec<String>, String> {
        let mut warnings = Vec::new();
        let loopback = self.listen.ip().is_loopback();
        match &self.auth_token {
            Some(token) => {
                if bool::from(
                    token
                        .expose_secret()
                        .as_bytes()
                        .ct_eq(osc_token.expose_secret().as_bytes()),
                ) {
                    return Err(
                        "MCP_AUTH_TOKEN must differ from the OSC personal access token: every HTTP client would hold \
                         the tenant's most powerful credential. Generate a separate one, for example with `openssl rand -hex 32`"
                            .to_owned(),
                    );
                }
            }
            None if !loopback => {
                return Err(format!(
                    "refusing to listen on {} without authentication: anyone who can reach that address could list, \
                     overwrite and delete the tenant's OSC secrets. Set MCP_AUTH_TOKEN (or --auth-token-file) to a long \
                     random token that clients send as `Authorization: Bearer <token>`, or listen on 127.0.0.1",
                    self.listen
                ));
            }
            None => warnings.push(format!(
                "serving on {} WITHOUT authentication: every local process and user can manage the tenant's OSC \
                 secrets through this server. Set MCP_AUTH_TOKEN to require a bearer token",
                self.listen
            )),
        }
        let hosts = HostRules::parse(&self.allowed_hosts, self.listen)?;
        if hosts.any && self.auth_token.is_none() {
            return Err(
                "MCP_ALLOWED_HOSTS=* turns off DNS-rebinding protection, which a server without MCP_AUTH_TOKEN relies on: \
                 list the host names clients use instead, or set MCP_AUTH_TOKEN"
                    .to_owned(),
            );
        }
        if hosts.any {
            warnings.push("Host checking is off (MCP_ALLOWED_HOSTS=*); Origin checking and the bearer token still apply".to_owned());
        } else if self.listen.ip().is_unspecified() && self.allowed_hosts.is_empty() {
            warnings.push(format!(
                "the server binds {} but answers only requests addressed to localhost, 127.0.0.1 or ::1; set MCP_ALLOWED_HOSTS \
                 to the host names clients use to reach it",
                self.listen
            ));
        }
        OriginRules::parse(&self.allowed_origins)?;
        Ok(warnings)
    }
}

/// Why the HTTP server could not run.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("the HTTP server stopped unexpectedly: {0}")]
    Stopped(String),
}

/// Serves until `shutdown` resolves, then stops accepting connections, gives
/// in-flight calls up to `shutdown_grace` to finish, closes every session and
/// returns. Prints `listening on http://ADDR` to stderr once the socket is bound.
pub async fn serve(
    server: SecretsServer,
    config: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| HttpError::Bind {
            addr: config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| HttpError::Bind {
        addr: config.listen,
        source,
    })?;
    let app = App::new(server, &config, local).map_err(HttpError::Config)?;
    eprintln!(
        "osc-secrets-mcp: listening on http://{local} (Streamable HTTP at {MCP_PATH}{}, legacy SSE at {SSE_PATH}, health at {HEALTH_PATH}; {})",
        if config.stateless { ", stateless" } else { "" },
        if config.auth_token.is_some() {
            "bearer token required"
        } else {
            "NO authentication"
        }
    );
    let stop_accepting = CancellationToken::new();
    let mut serving = {
        let stop = stop_accepting.clone();
        let router = app.router.clone();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        })
    };
    tokio::select! {
        () = shutdown => {}
        // axum's accept loop retries on errors, so this is not expected.
        ended = &mut serving => {
            app.cancel.cancel();
            return Err(HttpError::Stopped(match ended {
                Ok(Ok(())) => "the accept loop ended".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => crate::redact::task_failure(&e).to_owned(),
            }));
        }
    }
    tracing::info!("shutting down: no new connections, waiting for in-flight calls");
    app.guard.shutting_down.store(true, Ordering::SeqCst);
    stop_accepting.cancel();
    if tokio::time::timeout(config.shutdown_grace, app.guard.inflight.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = config.shutdown_grace.as_secs(),
            "in-flight calls did not finish within the shutdown grace period; closing them"
        );
    }
    app.cancel.cancel();
    match tokio::time::timeout(CLOSE_WAIT, serving).await {
        Ok(Ok(Ok(()))) | Err(_) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP server stopped with an error"),
        Ok(Err(e)) => tracing::warn!(
            reason = crate::redact::task_failure(&e),
            "the HTTP server task failed"
        ),
    }
    tracing::info!("stopped");
    Ok(())
}

/// The assembled service: router, the guard's shared state, and the token
/// that closes every session and stream.
struct App {
    router: Router,
    guard: Arc<Guard>,
    cancel: CancellationToken,
}

impl App {
    fn new(server: SecretsServer, config: &HttpConfig, local: SocketAddr) -> Result<Self, String> {
        // [`HttpConfig::check`] says so at start-up; this holds even if it was skipped.
        if config.auth_token.is_none() && !local.ip().is_loopback() {
            return Err(format!(
                "refusing to serve on {local} without MCP_AUTH_TOKEN"
            ));
        }
        let hosts = HostRules::parse(&config.allowed_hosts, local)?;
        let origins = OriginRules::parse(&config.allowed_origins)?;
        let cancel = CancellationToken::new();
        let budget = Arc::new(SessionBudget::new(config.max_sessions));
        let inflight = Arc::new(Inflight::new(config.max_concurrent_per_client));

        let mut rmcp_config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(!config.stateless)
            .with_json_response(config.stateless)
            .with_sse_keep_alive(Some(SSE_KEEP_ALIVE))
            .with_cancellation_token(cancel.child_token())
            .with_max_request_body_bytes(config.max_body_bytes)
            .with_allowed_origins(origins.for_rmcp())
            .enforce_origin_validation();
        rmcp_config = if hosts.any {
            rmcp_config.disable_allowed_hosts()
        } else {
            rmcp_config.with_allowed_hosts(hosts.for_rmcp())
        };

        let factory = {
            let server = server.clone();
            move || Ok(server.clone())
        };
        let mcp = if config.stateless {
            Router::new().route_service(
                MCP_PATH,
                StreamableHttpService::new(
                    factory,
                    Arc::new(NeverSessionManager::default()),
                    rmcp_config,
                ),
            )
        } else {
            let mut sessions = LocalSessionManager::default();
            let mut session_config = SessionConfig::default();
            session_config.keep_alive = Some(config.session_idle);
            sessions.session_config = session_config;
            let sessions = CappedSessions {
                inner: sessions,
                budget: Arc::clone(&budget),
                slots: Mutex::new(HashMap::new()),
            };
            Router::new().route_service(
                MCP_PATH,
                StreamableHttpService::new(factory, Arc::new(sessions), rmcp_config),
            )
        };

        let legacy = Arc::new(LegacySse::new(
            server,
            Arc::clone(&budget),
            Arc::clone(&inflight),
            config.session_idle,
            config.max_body_bytes,
            cancel.child_token(),
        ));
        let guard = Arc::new(Guard {
            token: config.auth_token.clone(),
            hosts,
            origins,
            max_body_bytes: config.max_body_bytes,
            budget,
            inflight,
            stateless: config.stateless,
            shutting_down: AtomicBool::new(false),
        });
        let router = Router::new()
            .route(HEALTH_PATH, get(healthz))
            .route(SSE_PATH, get(crate::sse::connect))
            .route(MESSAGES_PATH, post(crate::sse::message))
            .with_state(legacy)
            .merge(mcp)
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(
                Arc::clone(&guard),
                guard_layer,
            ));
        Ok(App {
            router,
            guard,
            cancel,
        })
    }
}

/// What the guard checks, shared by every request.
struct Guard {
    token: Option<SecretString>,
    hosts: HostRules,
    origins: OriginRules,
    max_body_bytes: usize,
    budget: Arc<SessionBudget>,
    inflight: Arc<Inflight>,
    stateless: bool,
    shutting_down: AtomicBool,
}

async fn guard_layer(
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
    if is_initialize && !guard.stateless && guard.budget.is_full() {
        return refused(too_many_sessions(guard.budget.cap));
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
            return refused(too_many_requests(guard.inflight.max_per_client));
        };
        Some(permit)
    };
    let mut response = next.run(request).await;
    if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
        // The session is gone, not queued for deletion; clients expect 200 or 204.
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    let response = sanitize_mcp_response(response, guard.budget.cap).await;
    match permit {
        Some(permit) => hold_until_body_ends(response, permit),
        None => response,
    }
}

impl Guard {
    /// Checks `Authorization: Bearer <token>` in constant time. Never says
    /// whether a wrong token is some other credential.
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(Refusal::MissingToken);
        };
        if values.next().is_some() {
            return Err(Refusal::InvalidToken);
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
            _ => Err(Refusal::InvalidToken),
        }
    }
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "Nothing here. MCP clients connect to {MCP_PATH} (Streamable HTTP) or {SSE_PATH} (legacy HTTP+SSE); {HEALTH_PATH} reports health."
        ),
    )
}

const SESSION_HEADER: &str = "mcp-session-id";

/// A JSON error body: `{"error": code, "message": sentence}`. The sentence
/// never quotes what the client sent.
pub(crate) fn error_response(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response {
    (
        status,
        axum::Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

/// A request the guard turns away before any transport sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    HostNotAllowed,
    OriginNotAllowed,
    MissingToken,
    InvalidToken,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::HostNotAllowed => error_response(
                StatusCode::FORBIDDEN,
                "host_not_allowed",
                "The Host header names a host this server does not answer to (DNS-rebinding protection). The operator can \
                 add it to MCP_ALLOWED_HOSTS.",
            ),
            Refusal::OriginNotAllowed => error_response(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "Requests from this web origin are not allowed (DNS-rebinding and cross-site protection). The operator can \
                 add it to MCP_ALLOWED_ORIGINS.",
            ),
            Refusal::MissingToken => unauthorized(false),
            Refusal::InvalidToken => unauthorized(true),
        }
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

pub(crate) fn body_too_large(limit: usize) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "The request body is larger than this server accepts ({limit} bytes, MCP_MAX_BODY_BYTES)."
        ),
    )
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
/// body, and so fragments of it; replace them with fixed sentences. A
/// refused session (the cap raced past the guard's check) becomes a 503.
async fn sanitize_mcp_response(response: Response, cap: usize) -> Response {
    let status = response.status();
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return error_response(
            status,
            "unsupported_body",
            "The body must be one JSON-RPC message, sent with `Content-Type: application/json`.",
        );
    }
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        let (_, body) = response.into_parts();
        let text = to_bytes(body, 64 * 1024).await.unwrap_or_default();
        if String::from_utf8_lossy(&text).contains(SESSION_LIMIT_REACHED) {
            return too_many_sessions(cap);
        }
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

// ---------------------------------------------------------------------------
// Host and Origin validation

/// Allowed `Host` values: loopback names always, the listen address when it
/// is a specific one, and the configured names.
struct HostRules {
    any: bool,
    /// (host lowercase without brackets, optional port)
    allowed: Vec<(String, Option<u16>)>,
}

impl HostRules {
    fn parse(configured: &[String], listen: SocketAddr) -> Result<Self, String> {
        let mut allowed: Vec<(String, Option<u16>)> = LOOPBACK_HOSTS
            .iter()
            .map(|h| ((*h).to_owned(), None))
            .collect();
        if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
            allowed.push((listen.ip().to_string(), None));
        }
        let mut any = false;
        for entry in configured
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            if entry == "*" {
                any = true;
                continue;
            }
            let authority = entry
                .parse::<axum::http::uri::Authority>()
                .ok()
                .filter(|a| !a.as_str().contains('@'))
                .ok_or_else(|| {
                    format!("MCP_ALLOWED_HOSTS: `{entry}` is not a host name or host:port (for example mcp.example.com or mcp.example.com:443)")
                })?;
            allowed.push((normalize_host(authority.host()), authority.port_u16()));
        }
        Ok(HostRules { any, allowed })
    }

    fn for_rmcp(&self) -> Vec<String> {
        self.allowed
            .iter()
            .map(|(host, port)| match (host.contains(':'), port) {
                (true, Some(port)) => format!("[{host}]:{port}"),
                (false, Some(port)) => format!("{host}:{port}"),
                (_, None) => host.clone(),
            })
            .collect()
    }

    fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        if self.any {
            return Ok(());
        }
        let forbidden = || Refusal::HostNotAllowed;
        let mut values = headers.get_all(header::HOST).iter();
        let authority = match (values.next(), values.next()) {
            (Some(value), None) => value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<axum::http::uri::Authority>().ok())
                .ok_or_else(forbidden)?,
            (None, _) => uri.authority().cloned().ok_or_else(forbidden)?,
            (Some(_), Some(_)) => return Err(forbidden()),
        };
        if authority.as_str().contains('@') {
            return Err(forbidden());
        }
        let host = normalize_host(authority.host());
        let port = authority.port_u16();
        let ok = self
            .allowed
            .iter()
            .any(|(h, p)| *h == host && p.is_none_or(|p| Some(p) == port));
        if ok { Ok(()) } else { Err(forbidden()) }
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PortRule {
    Any,
    Exact(u16),
}

/// Allowed `Origin` values: loopback origins on any port, and the
/// configured ones. A request without an Origin (every non-browser client)
/// passes; a present but unlisted one gets 403.
struct OriginRules {
    /// (scheme, host lowercase without brackets, port rule)
    allowed: Vec<(String, String, PortRule)>,
}

impl OriginRules {
    fn parse(configured: &[String]) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for scheme in ["http", "https"] {
            for host in LOOPBACK_HOSTS {
                allowed.push((scheme.to_owned(), host.to_owned(), PortRule::Any));
            }
        }
        for entry in configured
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            let bad = || {
                format!(
                    "MCP_ALLOWED_ORIGINS: `{entry}` is not an origin; write scheme://host[:port], for example \
                     https://app.example.com or http://localhost:* for any port"
                )
            };
            let (base, any_port) = match entry.strip_suffix(":*") {
                Some(base) => (base, true),
                None => (entry, false),
            };
            let (scheme, host, port) = parse_origin(base).ok_or_else(bad)?;
            let rule = match (any_port, port) {
                (true, None) => PortRule::Any,
                (true, Some(_)) => return Err(bad()),
                (false, Some(port)) => PortRule::Exact(port),
                (false, None) => PortRule::Exact(default_port(&scheme).ok_or_else(bad)?),
            };
            allowed.push((scheme, host, rule));
        }
        Ok(OriginRules { allowed })
    }

    /// The same list in rmcp's syntax, every port explicit.
    fn for_rmcp(&self) -> Vec<String> {
        self.allowed
            .iter()
            .map(|(scheme, host, rule)| {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                match rule {
                    PortRule::Any => format!("{scheme}://{host}:*"),
                    PortRule::Exact(port) => format!("{scheme}://{host}:{port}"),
                }
            })
            .collect()
    }

    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let Some(value) = values.next() else {
            return Ok(());
        };
        let parsed = if values.next().is_some() {
            None
        } else {
            value.to_str().ok().and_then(parse_origin)
        };
        let ok = parsed.is_some_and(|(scheme, host, port)| {
            let port = port.or_else(|| default_port(&scheme));
            self.allowed.iter().any(|(s, h, rule)| {
                *s == scheme
                    && *h == host
                    && match rule {
                        PortRule::Any => true,
                        PortRule::Exact(p) => Some(*p) == port,
                    }
            })
        });
        if ok {
            Ok(())
        } else {
            Err(Refusal::OriginNotAllowed)
        }
    }
}

/// `scheme://host[:port]` with nothing after it; None for `null` and anything else.
fn parse_origin(value: &str) -> Option<(String, String, Option<u16>)> {
    let uri = value.trim().parse::<Uri>().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return None;
    }
    Some((
        scheme,
        normalize_host(authority.host()),
        authority.port_u16(),
    ))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Limits

/// Shared cap on open sessions, Streamable HTTP and legacy SSE together.
pub(crate) struct SessionBudget {
    open: AtomicUsize,
    cap: usize,
}

/// One open session's place in the budget; freed on drop.
pub(crate) struct SessionSlot(Arc<SessionBudget>);

impl SessionBudget {
    fn new(cap: usize) -> Self {
        SessionBudget {
            open: AtomicUsize::new(0),
            cap,
        }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    fn is_full(&self) -> bool {
        self.open.load(Ordering::SeqCst) >= self.cap
    }

    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<SessionSlot> {
        self.open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < self.cap).then_some(open + 1)
            })
            .ok()
            .map(|_| SessionSlot(Arc::clone(self)))
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Requests in flight, per client and in total (the total is what a
/// graceful shutdown waits for).
pub(crate) struct Inflight {
    per_client: Mutex<HashMap<String, usize>>,
    max_per_client: usize,
    total: watch::Sender<usize>,
}

/// One request in flight; released on drop.
pub(crate) struct Permit {
    inflight: Arc<Inflight>,
    client: String,
}

impl Inflight {
    fn new(max_per_client: usize) -> Self {
        Inflight {
            per_client: Mutex::new(HashMap::new()),
            max_per_client,
            total: watch::channel(0).0,
        }
    }

    pub(crate) fn max_per_client(&self) -> usize {
        self.max_per_client
    }

    pub(crate) fn try_acquire(self: &Arc<Self>, client: String) -> Option<Permit> {
        let mut map = lock(&self.per_client);
        let count = map.entry(client.clone()).or_insert(0);
        if *count >= self.max_per_client {
            return None;
        }
        *count += 1;
        self.total.send_modify(|t| *t += 1);
        Some(Permit {
            inflight: Arc::clone(self),
            client,
        })
    }

    async fn drained(&self) {
        let mut total = self.total.subscribe();
        // The sender lives in `self`, so this cannot fail while awaited.
        let _ = total.wait_for(|t| *t == 0).await;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut map = lock(&self.inflight.per_client);
        if let Some(count) = map.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.client);
            }
        }
        drop(map);
        self.inflight
            .total
            .send_modify(|t| *t = t.saturating_sub(1));
    }
}

/// A poisoned lock only means a panic elsewhere; the counts stay usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Text of the error a refused session turns into; see [`sanitize_mcp_response`].
const SESSION_LIMIT_REACHED: &str = "session limit reached";

#[derive(Debug, thiserror::Error)]
enum CappedError {
    #[error("session limit reached")]
    Full,
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

/// rmcp's in-memory session manager (which expires idle sessions) with a cap
/// on how many exist at once.
struct CappedSessions {
    inner: LocalSessionManager,
    budget: Arc<SessionBudget>,
    slots: Mutex<HashMap<SessionId, SessionSlot>>,
}

impl SessionManager for CappedSessions {
    type Error = CappedError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let slot = self.budget.try_acquire().ok_or(CappedError::Full)?;
        let (id, transport) = self.inner.create_session().await?;
        lock(&self.slots).insert(id.clone(), slot);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    /// Called on DELETE and whenever a session's worker ends (idle expiry included).
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let result = self.inner.close_session(id).await;
        lock(&self.slots).remove(id);
        Ok(result?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        Ok(self.inner.resume(id, last_event_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, token: Option<&str>) -> HttpConfig {
        HttpConfig {
            listen: listen.parse().unwrap(),
            auth_token: token.map(|t| SecretString::from(t.to_owned())),
            allowed_hosts: vec![],
            allowed_origins: vec![],
            stateless: false,
            max_body_bytes: 1024,
            max_sessions: 2,
            session_idle: Duration::from_secs(60),
            max_concurrent_per_client: 2,
            shutdown_grace: Duration::from_secs(1),
        }
    }

    fn osc() -> SecretString {
        SecretString::from("osc-token-0123456789abcdef".to_owned())
    }

    #[test]
    fn public_address_without_token_is_refused() {
        let err = config("0.0.0.0:8765", None).check(&osc()).unwrap_err();
        assert!(err.contains("without authentication"), "{err}");
        assert!(err.contains("MCP_AUTH_TOKEN"), "{err}");
    }

    #[test]
    fn loopback_without_token_warns() {
        let warnings = config("127.0.0.1:8765", None).check(&osc()).unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("WITHOUT authentication"))
        );
    }

    #[test]
    fn token_equal_to_osc_token_is_refused() {
        let err = config("127.0.0.1:8765", Some("osc-token-0123456789abcdef"))
            .check(&osc())
            .unwrap_err();
        assert!(err.contains("must differ"), "{err}");
        assert!(!err.contains("osc-token-0123456789abcdef"));
    }

    #[test]
    fn wildcard_host_needs_a_token() {
        let mut c = config("127.0.0.1:8765", None);
        c.allowed_hosts = vec!["*".to_owned()];
        assert!(c.check(&osc()).is_err());
        c.auth_token = Some(SecretString::from("client-token-0123456789".to_owned()));
        assert!(c.check(&osc()).is_ok());
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn hosts() {
        let rules = HostRules::parse(
            &[
                "mcp.example.com".to_owned(),
                "other.example:8443".to_owned(),
            ],
            "10.1.2.3:8765".parse().unwrap(),
        )
        .unwrap();
        let uri: Uri = "/mcp".parse().unwrap();
        for ok in [
            "localhost:8765",
            "127.0.0.1",
            "[::1]:1",
            "mcp.example.com",
            "MCP.example.com:443",
            "other.example:8443",
            "10.1.2.3:8765",
        ] {
            assert!(rules.check(&uri, &headers(&[("host", ok)])).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example",
            "other.example:8444",
            "other.example",
            "localhost.evil.example",
            "user@localhost",
            "",
        ] {
            assert!(
                rules.check(&uri, &headers(&[("host", bad)])).is_err(),
                "{bad}"
            );
        }
        assert!(
            rules
                .check(&uri, &headers(&[("host", "localhost"), ("host", "evil")]))
                .is_err()
        );
        assert!(
            HostRules::parse(&["not a host".to_owned()], "127.0.0.1:1".parse().unwrap()).is_err()
        );
    }

    #[test]
    fn origins() {
        let rules = OriginRules::parse(&[
            "https://app.example.com".to_owned(),
            "http://dev.example:*".to_owned(),
        ])
        .unwrap();
        assert!(rules.check(&HeaderMap::new()).is_ok());
        for ok in [
            "http://localhost:6274",
            "https://127.0.0.1",
            "http://[::1]:3000",
            "https://app.example.com",
            "https://app.example.com:443",
            "http://dev.example:1234",
        ] {
            assert!(rules.check(&headers(&[("origin", ok)])).is_ok(), "{ok}");
        }
        for bad in [
            "null",
            "https://evil.example",
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://app.example.com.evil",
            "garbage",
            "https://app.example.com/path",
        ] {
            assert!(rules.check(&headers(&[("origin", bad)])).is_err(), "{bad}");
        }
        assert!(OriginRules::parse(&["app.example.com".to_owned()]).is_err());
        assert!(OriginRules::parse(&["https://a.example:443:*".to_owned()]).is_err());
        assert!(
            rules
                .for_rmcp()
                .contains(&"https://app.example.com:443".to_owned())
        );
        assert!(rules.for_rmcp().contains(&"http://[::1]:*".to_owned()));
    }

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
            assert_eq!(refusal, Refusal::InvalidToken);
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
        assert_eq!(missing, Refusal::MissingToken);
        assert_eq!(missing.into_response().status(), StatusCode::UNAUTHORIZED);
        assert!(guard(None).authenticate(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn limits() {
        let budget = Arc::new(SessionBudget::new(2));
        let a = budget.try_acquire().unwrap();
        let _b = budget.try_acquire().unwrap();
        assert!(budget.try_acquire().is_none());
        drop(a);
        assert!(budget.try_acquire().is_some());

        let inflight = Arc::new(Inflight::new(2));
        let p1 = inflight.try_acquire("a".into()).unwrap();
        let _p2 = inflight.try_acquire("a".into()).unwrap();
        assert!(inflight.try_acquire("a".into()).is_none());
        let _q = inflight.try_acquire("b".into()).unwrap();
        drop(p1);
        let _p3 = inflight.try_acquire("a".into()).unwrap();
        assert_eq!(*inflight.total.borrow(), 3);
    }
}
