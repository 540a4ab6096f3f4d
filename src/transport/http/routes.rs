//! The listener's routes and the layers around them, assembled in the order
//! of [`super::layers`]: public routes (`/healthz`, the OAuth probes, the
//! one-time page) outside authentication, the protected ones (`/mcp`,
//! `/sse`, `/messages`, unknown paths) inside.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

use super::config::{HttpConfig, HttpError};
use super::layers::around::AroundLayer;
use super::layers::auth::{self, ListenerAuth, StaticBearer};
use super::layers::body::Limit;
use super::layers::cors::{Decorate, Preflight};
use super::layers::drain::{CutOffLayer, Drain, RefuseNew};
use super::layers::host_origin::{self, Admitted};
use super::layers::log::Refusals;
use super::layers::owner::{self, Owners};
use super::layers::peek;
use super::layers::permits::{Calls, Streamable};
use super::layers::query::RefuseCredentials;
use super::layers::scope;
use super::layers::tidy::RmcpAnswers;
use super::limits::{Inflight, SessionBudget};
use super::metrics;
use super::oauth::ResourceServer;
use super::paths::{HEALTH_PATH, MCP_PATH, MESSAGES_PATH, METRICS_PATH, SSE_KEEP_ALIVE, SSE_PATH};
use super::sessions::CappedSessions;
use super::sse::{self, LegacySse};
use super::well_known;
use crate::ask_user::page::{self, PageConfig};
use crate::server::SecretsServer;
use crate::web::{BodyCap, HostRules, OriginRules, error_response};

/// The assembled service: router, the state shutdown works on, and the
/// token that closes every session and stream.
pub(super) struct App {
    pub(super) router: Router,
    pub(super) drain: Arc<Drain>,
    pub(super) calls: Arc<Calls>,
    pub(super) legacy: Arc<LegacySse>,
    pub(super) cancel: CancellationToken,
}

/// What the protected routes' layers share.
struct Protection {
    drain: Arc<Drain>,
    /// The listener's one authentication.
    auth: ListenerAuth,
    body: BodyCap,
}

impl Protection {
    /// `router` behind shutdown refusal, authentication and the body limit,
    /// in that order. One `layer` call per stack (here and below): axum
    /// boxes each layered route, and clones the boxes within on every call.
    fn wrap(&self, router: Router) -> Router {
        let refuse_new = AroundLayer(RefuseNew(Arc::clone(&self.drain)));
        let limit = AroundLayer(Limit(self.body));
        match &self.auth {
            ListenerAuth::StaticBearer(bearer) => router.layer(
                ServiceBuilder::new()
                    .layer(refuse_new)
                    .layer(from_fn_with_state(
                        Arc::clone(bearer),
                        auth::authenticated::<StaticBearer>,
                    ))
                    .layer(limit),
            ),
            ListenerAuth::OAuth(oauth) => router.layer(
                ServiceBuilder::new()
                    .layer(refuse_new)
                    .layer(from_fn_with_state(
                        Arc::clone(oauth),
                        auth::authenticated::<ResourceServer>,
                    ))
                    .layer(limit),
            ),
            ListenerAuth::Open => {
                router.layer(ServiceBuilder::new().layer(refuse_new).layer(limit))
            }
        }
    }
}

impl App {
    pub(super) fn new(
        server: SecretsServer,
        config: &HttpConfig,
        local: SocketAddr,
        page: Option<PageConfig>,
        oauth: Option<Arc<ResourceServer>>,
    ) -> Result<Self, HttpError> {
        // [`HttpConfig::check`] says so at start-up; this holds even if it was skipped.
        if config.auth_token.is_none() && oauth.is_none() && !local.ip().is_loopback() {
            return Err(HttpError::Exposed { listen: local });
        }
        let admitted = Arc::new(Admitted {
            hosts: HostRules::parse(&config.allowed_hosts, local).map_err(HttpError::Hosts)?,
            origins: OriginRules::parse(&config.allowed_origins).map_err(HttpError::Origins)?,
        });
        let cancel = CancellationToken::new();
        let calls = Arc::new(Calls {
            budget: Arc::new(SessionBudget::new(config.max_sessions)),
            inflight: Arc::new(Inflight::new(config.max_concurrent_per_client)),
            stateless: config.stateless,
        });
        let body = BodyCap {
            max_bytes: config.max_body_bytes,
            timeout: config.header_timeout,
        };
        let drain = Arc::new(Drain::default());
        let protection = Protection {
            drain: Arc::clone(&drain),
            auth: ListenerAuth::new(config.auth_token.clone(), oauth.clone()),
            body,
        };
        let legacy = Arc::new(LegacySse::new(
            server.clone(),
            Arc::clone(&calls.budget),
            Arc::clone(&calls.inflight),
            config.session_idle,
            body,
            cancel.child_token(),
            oauth.clone(),
        ));
        let scrape = metrics::Scrape {
            links: server.links().cloned(),
        };
        let mcp = streamable(server, config, &admitted, &calls, &drain, &cancel, &oauth);
        let protected = protection.wrap(
            Router::new()
                .route(SSE_PATH, get(sse::connect))
                .route(MESSAGES_PATH, post(sse::message))
                .with_state(Arc::clone(&legacy))
                .route(METRICS_PATH, get(metrics::scrape).with_state(scrape))
                .route(MCP_PATH, mcp),
        );
        // Unknown paths are protected too (a 401 says nothing of what
        // exists), except the OAuth probes under a path prefix.
        let unmatched = protection
            .wrap(Router::new().fallback(not_found))
            .layer(from_fn_with_state(oauth.clone(), well_known::prefixed));
        let router = Router::new()
            .route(HEALTH_PATH, get(healthz).with_state(Arc::clone(&drain)))
            .merge(well_known::router(oauth.as_ref()))
            .merge(protected)
            .fallback_service(unmatched)
            .layer(
                ServiceBuilder::new()
                    .layer(AroundLayer(Refusals))
                    .layer(AroundLayer(Decorate(Arc::clone(&admitted))))
                    .layer(AroundLayer(host_origin::Check(admitted)))
                    .layer(AroundLayer(RefuseCredentials))
                    .layer(AroundLayer(Preflight)),
            );
        // Outside every layer above: a browser has no token, and the page
        // checks Host and Origin itself, with rules of its own.
        let router = match page {
            Some(page) => router.merge(page::router(page)),
            None => router,
        };
        Ok(App {
            router,
            drain,
            calls,
            legacy,
            cancel,
        })
    }
}

/// Streamable HTTP at [`MCP_PATH`]: rmcp's service, with or without
/// sessions, behind the layers of `POST` and `DELETE`.
fn streamable(
    server: SecretsServer,
    config: &HttpConfig,
    admitted: &Admitted,
    calls: &Arc<Calls>,
    drain: &Arc<Drain>,
    cancel: &CancellationToken,
    oauth: &Option<Arc<ResourceServer>>,
) -> MethodRouter {
    let mut rmcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!config.stateless)
        .with_json_response(config.stateless)
        .with_sse_keep_alive(Some(SSE_KEEP_ALIVE))
        .with_cancellation_token(cancel.child_token())
        .with_max_request_body_bytes(config.max_body_bytes)
        .with_allowed_origins(admitted.origins.for_rmcp())
        .enforce_origin_validation();
    rmcp_config = if admitted.hosts.any {
        rmcp_config.disable_allowed_hosts()
    } else {
        rmcp_config.with_allowed_hosts(admitted.hosts.for_rmcp())
    };
    // Sessions outlive their replica where the state store keeps them
    // (SQLite shared on one machine, or Redis).
    if !config.stateless && server.store().shares_sessions() {
        rmcp_config.session_store = Some(Arc::new(super::sessions::SharedSessions(
            server.store().clone(),
        )));
    }
    let server_store = server.store().clone();
    let factory = move || Ok(server.clone());
    let layers = CallLayers {
        calls: Arc::clone(calls),
        drain: Arc::clone(drain),
        cap: BodyCap {
            max_bytes: config.max_body_bytes,
            timeout: config.header_timeout,
        },
        oauth: oauth.clone(),
    };
    if config.stateless {
        return layers.around(StreamableHttpService::new(
            factory,
            Arc::new(NeverSessionManager::default()),
            rmcp_config,
        ));
    }
    let owners = oauth
        .as_ref()
        .map(|_| Owners::new(server_store.shares_sessions().then(|| server_store.clone())));
    let mut sessions = LocalSessionManager::default();
    let mut session_config = SessionConfig::default();
    session_config.keep_alive = Some(config.session_idle);
    sessions.session_config = session_config;
    let sessions = CappedSessions {
        inner: sessions,
        budget: Arc::clone(&calls.budget),
        slots: Mutex::new(HashMap::new()),
        owners: owners.clone(),
    };
    let routes = layers.around(StreamableHttpService::new(
        factory,
        Arc::new(sessions),
        rmcp_config,
    ));
    match owners {
        Some(owners) => routes.layer(from_fn_with_state(owners, owner::enforce)),
        None => routes,
    }
}

/// The state of the layers of `POST` and `DELETE /mcp`.
struct CallLayers {
    calls: Arc<Calls>,
    drain: Arc<Drain>,
    cap: BodyCap,
    /// With OAuth, the scope check after the peek.
    oauth: Option<Arc<ResourceServer>>,
}

impl CallLayers {
    /// `POST`: peek, (with OAuth) scopes, permits, cut-off, tidy; `DELETE`
    /// the same without the peek and scopes; `GET` (the session's stream) and any other method straight to
    /// rmcp, which answers 405 where it serves nothing.
    ///
    /// rmcp's `Service::call` clones the whole service for every request
    /// (its configuration with the host and origin lists, then drops it: 3%
    /// of a stateless request's CPU in the profile); `handle` on one shared
    /// instance does the same work without the copy.
    fn around<M: SessionManager>(
        self,
        service: StreamableHttpService<SecretsServer, M>,
    ) -> MethodRouter {
        let service = Arc::new(service);
        let transport = move |request: Request| {
            let service = Arc::clone(&service);
            async move { service.handle(request).await.map(Body::new) }
        };
        let calls = ServiceBuilder::new()
            .layer(AroundLayer(Streamable(self.calls)))
            .layer(CutOffLayer(self.drain))
            .layer(AroundLayer(RmcpAnswers));
        let post_call = post(transport.clone()).route_layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(self.cap, peek::peek))
                .option_layer(self.oauth.map(|oauth| AroundLayer(scope::Enforce(oauth))))
                .layer(calls.clone()),
        );
        let delete_session = delete(transport.clone()).route_layer(calls);
        post_call
            .merge(delete_session)
            .merge(MethodRouter::new().fallback(transport))
    }
}

/// `/healthz`: needs no token and says nothing else.
async fn healthz(State(drain): State<Arc<Drain>>) -> Response {
    if drain.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "shutting down" })),
        )
            .into_response()
    } else {
        axum::Json(json!({ "status": "ok" })).into_response()
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::header;
    use secrecy::SecretString;

    use super::super::layers::testing::{request, send, text};
    use super::*;
    use crate::osc::{OscClient, OscConfig, RetryPolicy};

    const TOKEN: &str = "client-token-0123456789";

    /// The listener's router with a handler whose upstream is unreachable:
    /// these requests never get as far as a tool.
    fn app() -> App {
        let osc = OscClient::new(OscConfig {
            base_url: "http://127.0.0.1:9".to_owned(),
            token: SecretString::from("osc-token-unused-0123456789"),
            request_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        })
        .unwrap();
        let config = HttpConfig::for_tests("127.0.0.1:8765", Some(TOKEN));
        let local = config.listen;
        App::new(
            SecretsServer::new(Arc::new(osc)),
            &config,
            local,
            None,
            None,
        )
        .unwrap()
    }

    async fn error_of(app: &App, request: Request) -> (StatusCode, String) {
        let response = send(&app.router, request).await;
        let status = response.status();
        (status, text(response).await)
    }

    #[tokio::test]
    async fn host_and_origin_come_before_authentication() {
        let app = app();
        let (status, body) = error_of(
            &app,
            request(
                "POST",
                "/mcp",
                &[("host", "evil.example"), ("authorization", "Bearer wrong")],
                "{}",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("host_not_allowed"), "{body}");
        let (status, body) = error_of(
            &app,
            request(
                "GET",
                "/sse?access_token=x",
                &[("host", "localhost:8765")],
                "",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }

    #[tokio::test]
    async fn public_routes_need_no_token_and_the_rest_do() {
        let app = app();
        let host = ("host", "127.0.0.1:8765");
        let (status, body) = error_of(&app, request("GET", "/healthz", &[host], "")).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, r#"{"status":"ok"}"#)
        );
        for probe in [
            "/.well-known/oauth-protected-resource/mcp",
            "/mcp/.well-known/openid-configuration",
            "/register",
        ] {
            let (status, body) = error_of(&app, request("GET", probe, &[host], "")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{probe}");
            assert!(body.contains("oauth_not_supported"), "{probe}: {body}");
        }
        for (method, path) in [
            ("POST", "/mcp"),
            ("GET", "/mcp"),
            ("DELETE", "/mcp"),
            ("GET", "/sse"),
            ("POST", "/messages?sessionId=x"),
            ("GET", "/messages"),
            ("GET", "/anything"),
        ] {
            let response = send(&app.router, request(method, path, &[host], "")).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        }
        let bearer = ("authorization", "Bearer client-token-0123456789");
        let (status, body) = error_of(&app, request("GET", "/anything", &[host, bearer], "")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("\"not_found\""), "{body}");
        // Authenticated, the declared body size is looked at next.
        let (status, _) = error_of(
            &app,
            request(
                "POST",
                "/mcp",
                &[host, bearer, ("content-length", "2048")],
                "",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_preflight_needs_no_token_and_gets_cors_headers() {
        let app = app();
        let response = send(
            &app.router,
            request(
                "OPTIONS",
                "/mcp",
                &[
                    ("host", "localhost:8765"),
                    ("origin", "http://localhost:5173"),
                    ("access-control-request-method", "POST"),
                ],
                "",
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://localhost:5173"
        );
    }

    #[tokio::test]
    async fn once_draining_health_and_calls_say_so_before_authentication() {
        let app = app();
        app.drain.begin();
        let host = ("host", "127.0.0.1:8765");
        let (status, body) = error_of(&app, request("GET", "/healthz", &[host], "")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, r#"{"status":"shutting down"}"#);
        let (status, body) = error_of(&app, request("POST", "/mcp", &[host], "{}")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("shutting_down"), "{body}");
    }
}
