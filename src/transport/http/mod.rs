//! `--transport http`: one listener serving the tool handler over Streamable
//! HTTP (`/mcp`), the legacy HTTP+SSE transport (`/sse` and `/messages`, see
//! [`sse`]) and a health check (`/healthz`).
//!
//! Every request passes a stack of layers before it reaches a transport,
//! one concern each (see [`layers`] for their order): Host and Origin
//! validation (DNS-rebinding protection), CORS, refusal of credentials in
//! the query string, the server's own bearer token, the body size limit, a
//! cap on concurrent sessions and a per-client cap on requests in flight,
//! and the drain at shutdown. [`routes`] puts them together.
//! None of the transports knows what a secret is, and nothing here ever
//! reads, forwards or logs a token or a tool argument.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Uri, header};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod config;
pub(crate) mod conn;
mod held;
mod layers;
mod limits;
mod metrics;
pub mod oauth;
mod paths;
mod reclaim;
mod routes;
mod sessions;
pub(crate) mod sse;
mod well_known;

use crate::ask_user::page::{self, PageConfig, PageHosts};
use crate::server::SecretsServer;
use crate::web::HostRules;
pub use config::{HttpConfig, HttpError};
use conn::{ConnLimits, Connections};
pub use paths::{HEALTH_PATH, MCP_PATH, MESSAGES_PATH, METRICS_PATH, SSE_PATH};
use routes::App;

/// How long to wait for connections after in-flight calls drained or the grace period ended.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How long calls cut off at the end of the grace period get to receive their error.
const CUT_FLUSH: Duration = Duration::from_secs(1);

/// Serves until `shutdown` resolves, then stops accepting connections, gives
/// in-flight calls up to `shutdown_grace` to finish, closes every session and
/// returns. Prints `listening on http://ADDR` to stderr once the socket is bound.
pub async fn serve(
    server: SecretsServer,
    config: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    server.serve_links();
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
    let oauth = match &config.oauth {
        Some(settings) => Some(Arc::new(
            oauth::ResourceServer::start(settings, local).await?,
        )),
        None => None,
    };
    let page = page_config(&server, &config, local).await?;
    if let (Some(oauth), Some(links)) = (&oauth, server.links()) {
        page_sign_in(oauth, links, &config).await?;
    }
    let scrape = metrics::Scrape {
        links: server.links().cloned(),
    };
    let app = App::new(server, &config, local, page, oauth.clone())?;
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
        match (&oauth, config.auth_token.is_some()) {
            (Some(oauth), _) => format!(
                "OAuth access tokens from {} for {} required",
                oauth.issuer(),
                oauth.resource()
            ),
            (None, true) => "bearer token required".to_owned(),
            (None, false) => "NO authentication".to_owned(),
        }
    ));
    if let Some(addr) = config.metrics_listen {
        let listener = metrics::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        let bound = listener.local_addr().unwrap_or(addr);
        crate::logging::say(&format!(
            "metrics at http://{bound}{METRICS_PATH}, without authentication{}",
            if bound.ip().is_loopback() {
                ""
            } else {
                " (not loopback: anyone who reaches this address reads them; they hold counts only)"
            }
        ));
        let limits = ConnLimits {
            header_timeout: config.header_timeout,
            idle_timeout: config.connection_idle,
            max_connections: 64,
        };
        metrics::serve(listener, scrape, limits, app.cancel.child_token());
    }
    tokio::spawn(Arc::clone(&app.calls.budget.reclaim).run(
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
    app.drain.begin();
    draining.cancel();
    if tokio::time::timeout(config.shutdown_grace, app.calls.inflight.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = config.shutdown_grace.as_secs(),
            "in-flight calls did not finish within the shutdown grace period; answering them with an error"
        );
        app.drain.cut_off();
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
        .map_err(|e| HttpError::Page(e.to_string()))?;
    let origin = page::origin_of(&base)
        .ok_or_else(|| HttpError::Page("its base URL has no origin".to_owned()))?;
    let hosts = HostRules::parse(&config.allowed_hosts, local).map_err(HttpError::Hosts)?;
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

/// With OAuth, the one-time page signs the person in (askUser is refused
/// without it, and the start-up says so).
async fn page_sign_in(
    oauth: &Arc<oauth::ResourceServer>,
    links: &Arc<crate::ask_user::links::Links>,
    config: &HttpConfig,
) -> Result<(), HttpError> {
    let base = links.base().await.unwrap_or_default();
    let redirect = format!("{base}{}", crate::ask_user::sign_in::SIGNED_IN_PATH);
    match config.oauth.as_ref().and_then(|o| o.page.as_ref()) {
        Some(client) => {
            let sign_in = oauth::sign_in::PageSignIn::new(Arc::clone(oauth), client)?;
            crate::logging::say(&format!(
                "one-time askUser pages sign people in as the client {} of {} (redirect URI {redirect})",
                sign_in.client_id(),
                oauth.issuer()
            ));
            links.set_sign_in(Arc::new(sign_in));
        }
        None => crate::logging::say(&format!(
            "warning: OAuth is on and the one-time askUser page cannot sign anyone in, so askUser is refused: \
             register the page at the authorization server as a client with the redirect URI {redirect}, then \
             set --oauth-page-client-id (MCP_OAUTH_PAGE_CLIENT_ID) and its secret (MCP_OAUTH_PAGE_CLIENT_SECRET)"
        )),
    }
    Ok(())
}

fn url_is_loopback(base: &str) -> bool {
    reqwest::Url::parse(base).is_ok_and(|url| crate::config::is_loopback(&url))
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn config(listen: &str, token: Option<&str>) -> HttpConfig {
        HttpConfig::for_tests(listen, token)
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
