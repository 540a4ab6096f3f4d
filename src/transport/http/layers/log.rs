//! The refusal log: one line for every request a layer refused, with the
//! method, the endpoint, the peer address and the status. Never the path a
//! client made up, a header, the query or the body.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::Method;
use axum::response::Response;

use super::super::paths::{HEALTH_PATH, MCP_PATH, MESSAGES_PATH, SSE_PATH};
use super::around::Around;

/// Marks a response as a refusal; [`refusals`] logs it on the way out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused;

/// `response`, marked as a refusal to log.
pub(crate) fn refused(mut response: Response) -> Response {
    response.extensions_mut().insert(Refused);
    response
}

/// The outermost layer: logs the responses marked by [`refused`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusals;

/// What a log line says of a request.
pub(crate) struct Seen {
    method: Method,
    endpoint: &'static str,
    peer: Option<IpAddr>,
}

impl Around for Refusals {
    type Note = Seen;

    fn before(&self, request: &mut Request) -> Result<Seen, Response> {
        Ok(Seen {
            method: request.method().clone(),
            endpoint: endpoint(request.uri().path()),
            peer: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip()),
        })
    }

    fn after(seen: Seen, response: Response) -> Response {
        if response.extensions().get::<Refused>().is_some() {
            let peer = seen.peer.map(|ip| ip.to_string()).unwrap_or_default();
            tracing::info!(
                method = %seen.method,
                path = seen.endpoint,
                peer = %peer,
                status = response.status().as_u16(),
                "request refused"
            );
        }
        response
    }
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
    use super::super::around::AroundLayer;
    use axum::Router;
    use axum::http::StatusCode;
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
            .layer(AroundLayer(Refusals));
        let no = send(&router, request("GET", "/no", &[], "")).await;
        assert_eq!(no.status(), StatusCode::FORBIDDEN);
        assert!(no.extensions().get::<Refused>().is_some());
        let yes = send(&router, request("GET", "/yes", &[], "")).await;
        assert_eq!(yes.status(), StatusCode::OK);
        assert!(yes.extensions().get::<Refused>().is_none());
    }
}
