//! The refusal log: one line for every request a layer refused, with the
//! method, the endpoint, the peer address and the status. Never the path a
//! client made up, a header, the query or the body.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::super::paths::{HEALTH_PATH, MCP_PATH, MESSAGES_PATH, SSE_PATH};

/// Marks a response as a refusal; [`refusals`] logs it on the way out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused;

/// `response`, marked as a refusal to log.
pub(crate) fn refused(mut response: Response) -> Response {
    response.extensions_mut().insert(Refused);
    response
}

/// The outermost layer: logs the responses marked by [`refused`].
pub(crate) async fn refusals(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let endpoint = endpoint(request.uri().path());
    let response = next.run(request).await;
    if response.extensions().get::<Refused>().is_some() {
        tracing::info!(
            %method,
            path = endpoint,
            peer = %peer.ip(),
            status = response.status().as_u16(),
            "request refused"
        );
    }
    response
}

/// The endpoint as it may appear in the log: only known paths are named,
/// anything else a client sends stays out of the log.
fn endpoint(path: &str) -> &'static str {
    [MCP_PATH, SSE_PATH, MESSAGES_PATH, HEALTH_PATH]
        .into_iter()
        .find(|known| *known == path)
        .unwrap_or("(other)")
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::middleware::from_fn;
    use axum::response::IntoResponse;
    use axum::routing::get;

    use super::super::testing::{request, send};
    use super::*;

    #[test]
    fn only_known_endpoints_are_named() {
        assert_eq!(endpoint("/mcp"), "/mcp");
        assert_eq!(endpoint("/healthz"), "/healthz");
        assert_eq!(endpoint("/mcp/secret-looking-path"), "(other)");
        assert_eq!(endpoint("/?token=x"), "(other)");
    }

    #[tokio::test]
    async fn the_marker_passes_through_and_unmarked_answers_are_untouched() {
        let router = Router::new()
            .route(
                "/no",
                get(|| async { refused(StatusCode::FORBIDDEN.into_response()) }),
            )
            .route("/yes", get(|| async { "fine" }))
            .layer(from_fn(refusals));
        let no = send(&router, request("GET", "/no", &[], "")).await;
        assert_eq!(no.status(), StatusCode::FORBIDDEN);
        assert!(no.extensions().get::<Refused>().is_some());
        let yes = send(&router, request("GET", "/yes", &[], "")).await;
        assert_eq!(yes.status(), StatusCode::OK);
        assert!(yes.extensions().get::<Refused>().is_none());
    }
}
