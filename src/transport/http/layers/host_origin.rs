//! `Host` and `Origin` rules on every request (DNS-rebinding and cross-site
//! protection), before anything else looks at it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::refused;
use crate::web::{HostRules, OriginRules};

/// Who may address this listener, and from which web origins.
pub(crate) struct Admitted {
    pub(crate) hosts: HostRules,
    pub(crate) origins: OriginRules,
}

/// `403 host_not_allowed` or `403 origin_not_allowed`, else on.
pub(crate) async fn check(
    State(admitted): State<Arc<Admitted>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = admitted.hosts.check(request.uri(), request.headers()) {
        return refused(refusal.into_response());
    }
    if let Err(refusal) = admitted.origins.check(request.headers()) {
        return refused(refusal.into_response());
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;

    use super::super::testing::{request, send, text};
    use super::*;

    fn router() -> Router {
        let admitted = Arc::new(Admitted {
            hosts: HostRules::parse(
                &["mcp.example.com".to_owned()],
                "127.0.0.1:1".parse().unwrap(),
            )
            .unwrap(),
            origins: OriginRules::parse(&["https://app.example.com".to_owned()]).unwrap(),
        });
        Router::new()
            .route("/", get(|| async { "reached" }))
            .layer(from_fn_with_state(admitted, check))
    }

    #[tokio::test]
    async fn a_foreign_host_or_origin_never_reaches_the_inside() {
        let router = router();
        for (headers, code) in [
            (vec![("host", "evil.example")], "host_not_allowed"),
            (
                vec![("host", "localhost"), ("origin", "https://evil.example")],
                "origin_not_allowed",
            ),
            // A bad Host is named even when the Origin is bad too.
            (
                vec![("host", "evil.example"), ("origin", "null")],
                "host_not_allowed",
            ),
        ] {
            let response = send(&router, request("GET", "/", &headers, "")).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            assert!(
                response
                    .extensions()
                    .get::<super::super::log::Refused>()
                    .is_some()
            );
            assert!(text(response).await.contains(code), "{code}");
        }
    }

    #[tokio::test]
    async fn allowed_hosts_and_origins_pass() {
        let router = router();
        for headers in [
            vec![("host", "127.0.0.1:8765")],
            vec![("host", "mcp.example.com")],
            vec![("host", "localhost"), ("origin", "https://app.example.com")],
        ] {
            let response = send(&router, request("GET", "/", &headers, "")).await;
            assert_eq!(response.status(), StatusCode::OK, "{headers:?}");
            assert_eq!(text(response).await, "reached");
        }
    }
}
