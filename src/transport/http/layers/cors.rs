//! CORS, for browser clients on an allowed origin: response headers on every
//! answer ([`decorate`], outermost, so a browser can read a refusal too) and
//! the answer to a preflight ([`preflight`], once Host, Origin and the query
//! passed; a preflight carries no token).
//!
//! tower-http's `CorsLayer` is not used: it answers a preflight `200`
//! (clients here have always had `204`), adds `Vary` to answers without an
//! `Origin`, leaves `Access-Control-Expose-Headers` off the preflight, and
//! sends no `Access-Control-Allow-Headers` when the preflight lists none,
//! where this server names the headers MCP clients send.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::around::Around;
use super::host_origin::Admitted;

/// Headers a browser script may read from an answer.
const EXPOSE_HEADERS: &str = "mcp-session-id, mcp-protocol-version, www-authenticate, retry-after";
/// Methods a preflight allows.
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Request headers a preflight allows when it names none itself.
const ALLOW_HEADERS: &str =
    "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id";
/// How long a browser may cache a preflight, in seconds.
const MAX_AGE: &str = "600";

/// Lets a browser on an allowed origin read the answer, whatever answered;
/// any other origin is refused further in (by [`super::host_origin`]).
#[derive(Clone)]
pub(crate) struct Decorate(pub(crate) Arc<Admitted>);

impl Around for Decorate {
    /// The request's `Origin`, when it is an allowed one.
    type Note = Option<HeaderValue>;

    fn before(&self, request: &mut Request) -> Result<Option<HeaderValue>, Response> {
        Ok(request
            .headers()
            .get(header::ORIGIN)
            .filter(|_| self.0.origins.check(request.headers()).is_ok())
            .cloned())
    }

    fn after(origin: Option<HeaderValue>, mut response: Response) -> Response {
        if let Some(origin) = origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(header::VARY, HeaderValue::from_static("origin"));
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
        response
    }
}

/// `OPTIONS` on any path: `204` with the methods and headers allowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Preflight;

impl Around for Preflight {
    type Note = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        if request.method() != Method::OPTIONS {
            return Ok(());
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let out = response.headers_mut();
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        let requested = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(ALLOW_HEADERS));
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        Err(response)
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use tower::ServiceBuilder;

    use super::super::around::AroundLayer;
    use axum::routing::get;

    use super::super::testing::{request, send};
    use super::*;
    use crate::web::{HostRules, OriginRules};

    fn router() -> Router {
        let admitted = Arc::new(Admitted {
            hosts: HostRules::parse(&[], "127.0.0.1:1".parse().unwrap()).unwrap(),
            origins: OriginRules::parse(&[]).unwrap(),
        });
        Router::new()
            .route("/mcp", get(|| async { "reached" }))
            .layer(
                ServiceBuilder::new()
                    .layer(AroundLayer(Decorate(admitted)))
                    .layer(AroundLayer(Preflight)),
            )
    }

    #[tokio::test]
    async fn an_allowed_origin_gets_exactly_todays_headers() {
        let router = router();
        let origin = "http://localhost:5173";
        let response = send(&router, request("GET", "/mcp", &[("origin", origin)], "")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        assert_eq!(headers[header::VARY], "origin");
        assert_eq!(
            headers[header::ACCESS_CONTROL_EXPOSE_HEADERS],
            EXPOSE_HEADERS
        );
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
    }

    #[tokio::test]
    async fn no_origin_or_a_foreign_one_gets_no_cors_headers() {
        let router = router();
        for headers in [vec![], vec![("origin", "https://evil.example")]] {
            let response = send(&router, request("GET", "/mcp", &headers, "")).await;
            for name in [
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                header::VARY,
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
            ] {
                assert!(
                    !response.headers().contains_key(&name),
                    "{name} {headers:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_preflight_is_answered_204_with_what_it_asked_for() {
        let router = router();
        let origin = "http://127.0.0.1:3000";
        let response = send(
            &router,
            request(
                "OPTIONS",
                "/anywhere",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "authorization, content-type",
                    ),
                ],
                "",
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let headers = response.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], ALLOW_METHODS);
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization, content-type"
        );
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], MAX_AGE);
        assert_eq!(
            headers[header::ACCESS_CONTROL_EXPOSE_HEADERS],
            EXPOSE_HEADERS
        );
        let bare = send(&router, request("OPTIONS", "/mcp", &[], "")).await;
        assert_eq!(bare.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            bare.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS],
            ALLOW_HEADERS
        );
        assert!(
            !bare
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }
}
