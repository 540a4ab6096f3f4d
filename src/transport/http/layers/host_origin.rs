//! `Host` and `Origin` rules on every request (DNS-rebinding and cross-site
//! protection), before anything else looks at it.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use super::around::Around;
use super::refused;
use crate::web::{HostRules, OriginRules};

/// Who may address this listener, and from which web origins.
pub(crate) struct Admitted {
    pub(crate) hosts: HostRules,
    pub(crate) origins: OriginRules,
}

/// The layer: `403 host_not_allowed` or `403 origin_not_allowed`, else on.
#[derive(Clone)]
pub(crate) struct Check(pub(crate) Arc<Admitted>);

impl Around for Check {
    type Note = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        if let Err(refusal) = self.0.hosts.check(request.uri(), request.headers()) {
            return Err(refused(refusal.into_response()));
        }
        if let Err(refusal) = self.0.origins.check(request.headers()) {
            return Err(refused(refusal.into_response()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::around::AroundLayer;
    use axum::Router;
    use axum::http::StatusCode;
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
            .layer(AroundLayer(Check(admitted)))
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
