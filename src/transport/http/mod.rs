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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::{self};
use axum::routing::{any, get, post};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) mod conn;
mod guard;
mod held;
mod limits;
mod paths;
mod reclaim;
mod sessions;
pub(crate) mod sse;

use crate::server::SecretsServer;
use crate::web::page::{self, PageConfig, PageHosts};
use crate::web::{BodyCap, HostRules, OriginRules};
use conn::{ConnLimits, Connections};
use guard::Guard;
use limits::{Inflight, SessionBudget};
use paths::SSE_KEEP_ALIVE;
pub use paths::{HEALTH_PATH, MCP_PATH, MESSAGES_PATH, SSE_PATH};
use sessions::CappedSessions;
use sse::LegacySse;

/// How long to wait for connections after in-flight calls drained or the grace period ended.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How long calls cut off at the end of the grace period get to receive their error.
const CUT_FLUSH: Duration = Duration::from_secs(1);

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
    /// How long a client has to send a complete request head (from
    /// connecting, or from the first byte of a next request), and a body.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub connection_idle: Duration,
    /// Most connections open at once, lowered to fit the descriptor limit.
    pub max_connections: usize,
}

impl HttpConfig {
    /// Start-up checks. Returns warnings to print, or the reason not to start.
    /// `osc_token` is the upstream token: the clients' token must differ.
    pub fn check(&self, osc_token: &SecretString) -> Result<Vec<String>, HttpError> {
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
                    return Err(HttpError::Config(
                        "MCP_AUTH_TOKEN must differ from the OSC personal access token: every HTTP client would hold \
                         the tenant's most powerful credential. Generate a separate one, for example with `openssl rand -hex 32`"
                            .to_owned(),
                    ));
                }
            }
            None if !loopback => {
                return Err(HttpError::Config(format!(
                    "refusing to listen on {} without authentication: anyone who can reach that address could list, \
                     overwrite and delete the tenant's OSC secrets. Set MCP_AUTH_TOKEN (or --auth-token-file) to a long \
                     random token that clients send as `Authorization: Bearer <token>`, or listen on 127.0.0.1",
                    self.listen
                )));
            }
            None => warnings.push(format!(
                "serving on {} WITHOUT authentication: every local process and user can manage the tenant's OSC \
                 secrets through this server. Set MCP_AUTH_TOKEN to require a bearer token",
                self.listen
            )),
        }
        let hosts =
            HostRules::parse(&self.allowed_hosts, self.listen).map_err(HttpError::Config)?;
        if hosts.any && self.auth_token.is_none() {
            return Err(HttpError::Config(
                "MCP_ALLOWED_HOSTS=* turns off DNS-rebinding protection, which a server without MCP_AUTH_TOKEN relies on: \
                 list the host names clients use instead, or set MCP_AUTH_TOKEN"
                    .to_owned(),
            ));
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
        OriginRules::parse(&self.allowed_origins).map_err(HttpError::Config)?;
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
    let page = page_config(&server, &config, local).await?;
    let app = App::new(server, &config, local, page).map_err(HttpError::Config)?;
    let (max_connections, descriptors) = conn::connection_cap(config.max_connections);
    if max_connections < config.max_connections {
        tracing::warn!(
            configured = config.max_connections,
            used = max_connections,
            descriptor_limit = descriptors.unwrap_or_default(),
            "MCP_MAX_CONNECTIONS lowered to leave room below the process's open-file limit (ulimit -n)"
        );
    }
    let connections = Arc::new(Connections::new(ConnLimits {
        header_timeout: config.header_timeout,
        idle_timeout: config.connection_idle,
        max_connections,
    }));
    crate::logging::say(&format!(
        "listening on http://{local} (Streamable HTTP at {MCP_PATH}{}, legacy SSE at {SSE_PATH}, health at {HEALTH_PATH}; {})",
        if config.stateless { ", stateless" } else { "" },
        if config.auth_token.is_some() {
            "bearer token required"
        } else {
            "NO authentication"
        }
    ));
    tokio::spawn(Arc::clone(&app.guard.budget.reclaim).run(
        reclaim::QUIET,
        reclaim::trim,
        app.cancel.child_token(),
    ));
    let stop_accepting = CancellationToken::new();
    let draining = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut accepting = tokio::spawn(conn::accept_loop(
        listener,
        app.router.clone(),
        Arc::clone(&connections),
        stop_accepting.clone(),
        draining.clone(),
        tracker.clone(),
    ));
    tokio::select! {
        () = shutdown => {}
        // The accept loop retries on errors, so this is not expected.
        ended = &mut accepting => {
            app.cancel.cancel();
            return Err(HttpError::Stopped(match ended {
                Ok(()) => "the accept loop ended".to_owned(),
                Err(e) => crate::redact::task_failure(&e).to_owned(),
            }));
        }
    }
    // Draining: connections close after their current request; new ones are
    // still accepted, so /healthz can answer 503 and new calls get a clear
    // refusal instead of a refused connection.
    tracing::info!("shutting down: refusing new calls, waiting for in-flight calls");
    app.guard.shutting_down.store(true, Ordering::SeqCst);
    draining.cancel();
    if tokio::time::timeout(config.shutdown_grace, app.guard.inflight.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = config.shutdown_grace.as_secs(),
            "in-flight calls did not finish within the shutdown grace period; answering them with an error"
        );
        app.guard.cut.cancel();
        app.legacy.cut_off();
        let _ = tokio::time::timeout(CUT_FLUSH, connections.closed()).await;
    }
    stop_accepting.cancel();
    app.cancel.cancel();
    let _ = accepting.await;
    tracker.close();
    if tokio::time::timeout(CLOSE_WAIT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time; dropping them");
    }
    tracing::info!("stopped");
    Ok(())
}

/// askUser's one-time page on this listener, when the handler serves links:
/// links start with the public URL, or else this listener's own address.
async fn page_config(
    server: &SecretsServer,
    config: &HttpConfig,
    local: SocketAddr,
) -> Result<Option<PageConfig>, HttpError> {
    let Some(links) = server.links() else {
        return Ok(None);
    };
    links.listening(local);
    let base = links
        .base()
        .await
        .map_err(|e| HttpError::Config(e.to_string()))?;
    let origin = page::origin_of(&base).ok_or_else(|| {
        HttpError::Config("the one-time page's base URL has no origin".to_owned())
    })?;
    let hosts = HostRules::parse(&config.allowed_hosts, local).map_err(HttpError::Config)?;
    if let Ok(url) = reqwest::Url::parse(&base)
        && let Some(authority) = url
            .host_str()
            .map(|h| match url.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_owned(),
            })
            .and_then(|a| HeaderValue::from_str(&a).ok())
    {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, authority);
        if hosts.check(&Uri::from_static("/"), &headers).is_err() {
            crate::logging::say(&format!(
                "warning: one-time askUser links name {origin}, but MCP_ALLOWED_HOSTS does not accept that host: \
                 browsers will be refused unless the proxy rewrites Host. Add the host to MCP_ALLOWED_HOSTS"
            ));
        }
    }
    if local.ip().is_unspecified() && url_is_loopback(&base) {
        crate::logging::say(&format!(
            "warning: one-time askUser links name {origin}, which only a browser on this machine can open; set \
             --public-url (OSC_MCP_PUBLIC_URL) to the address browsers reach this server at"
        ));
    }
    Ok(Some(PageConfig {
        links: Arc::clone(links),
        hosts: PageHosts::Rules(hosts),
        origins: vec![origin],
        body_timeout: config.header_timeout,
    }))
}

fn url_is_loopback(base: &str) -> bool {
    reqwest::Url::parse(base).is_ok_and(|url| {
        url.host_str().is_some_and(|host| {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
    })
}

/// Streamable HTTP at [`MCP_PATH`], every method. rmcp's `Service::call`
/// clones the whole service for every request (its configuration with the
/// host and origin lists, then drops it: 3% of a stateless request's CPU in
/// the profile); `handle` on one shared instance does the same work
/// without the copy.
fn mcp_route<M>(service: StreamableHttpService<SecretsServer, M>) -> Router
where
    M: SessionManager,
{
    let service = Arc::new(service);
    Router::new().route(
        MCP_PATH,
        any(move |request: Request| {
            let service = Arc::clone(&service);
            async move { service.handle(request).await.map(Body::new) }
        }),
    )
}

/// The assembled service: router, the guard's shared state, and the token
/// that closes every session and stream.
struct App {
    router: Router,
    guard: Arc<Guard>,
    legacy: Arc<LegacySse>,
    cancel: CancellationToken,
}

impl App {
    fn new(
        server: SecretsServer,
        config: &HttpConfig,
        local: SocketAddr,
        page: Option<PageConfig>,
    ) -> Result<Self, String> {
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
        let body = BodyCap {
            max_bytes: config.max_body_bytes,
            timeout: config.header_timeout,
        };

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
            mcp_route(StreamableHttpService::new(
                factory,
                Arc::new(NeverSessionManager::default()),
                rmcp_config,
            ))
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
            mcp_route(StreamableHttpService::new(
                factory,
                Arc::new(sessions),
                rmcp_config,
            ))
        };

        let legacy = Arc::new(LegacySse::new(
            server,
            Arc::clone(&budget),
            Arc::clone(&inflight),
            config.session_idle,
            body,
            cancel.child_token(),
        ));
        let guard = Arc::new(Guard {
            token: config.auth_token.clone(),
            hosts,
            origins,
            body,
            budget,
            inflight,
            stateless: config.stateless,
            shutting_down: AtomicBool::new(false),
            cut: CancellationToken::new(),
        });
        let mut router = Router::new()
            .route(HEALTH_PATH, get(guard::healthz))
            .route(SSE_PATH, get(sse::connect))
            .route(MESSAGES_PATH, post(sse::message))
            .with_state(Arc::clone(&legacy))
            .merge(mcp)
            .fallback(guard::not_found)
            .layer(middleware::from_fn_with_state(
                Arc::clone(&guard),
                guard::guard_layer,
            ));
        // Merged after the guard's layer, so outside the bearer token (a
        // browser has none): the page checks Host and Origin itself.
        if let Some(page) = page {
            router = router.merge(page::router(page));
        }
        Ok(App {
            router,
            guard,
            legacy,
            cancel,
        })
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
            header_timeout: Duration::from_secs(10),
            connection_idle: Duration::from_secs(60),
            max_connections: 64,
        }
    }

    fn osc() -> SecretString {
        SecretString::from("osc-token-0123456789abcdef".to_owned())
    }

    #[test]
    fn public_address_without_token_is_refused() {
        let err = config("0.0.0.0:8765", None)
            .check(&osc())
            .unwrap_err()
            .to_string();
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
            .unwrap_err()
            .to_string();
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
}
