//! The body limit of the protected routes: a body whose `Content-Length`
//! says it is over `MCP_MAX_BODY_BYTES` is refused before a byte of it is
//! read. Bodies without one are capped, in size and time, where they are
//! read: by [`crate::web::BodyCap::read`] (the `POST /mcp` peek and
//! `/messages`), the only body reader of this listener.
//!
//! tower-http's `RequestBodyLimitLayer` is not used: its `413` has a
//! plain-text body where clients get `body_too_large` JSON, and its timeout
//! body restarts its clock at every chunk, so a client trickling a byte at
//! a time is never cut; [`crate::web::BodyCap`] counts from the start.

use axum::extract::Request;
use axum::response::Response;

use super::around::Around;
use super::refused;
use crate::web::{BodyCap, body_too_large};

/// The layer: `413 body_too_large` for a declared length over the cap,
/// else on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit(pub(crate) BodyCap);

impl Around for Limit {
    type Note = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        if self.0.declared_too_large(request.headers()) {
            return Err(refused(body_too_large(self.0.max_bytes)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::around::AroundLayer;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;

    use super::super::testing::{request, send, text};
    use super::*;

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_unread() {
        let cap = BodyCap {
            max_bytes: 4,
            timeout: Duration::from_secs(1),
        };
        let router = Router::new()
            .route("/mcp", post(|body: String| async move { body }))
            .layer(AroundLayer(Limit(cap)));
        let response = send(
            &router,
            request("POST", "/mcp", &[("content-length", "5")], "12345"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(text(response).await.contains("body_too_large"));
        let response = send(
            &router,
            request("POST", "/mcp", &[("content-length", "4")], "1234"),
        )
        .await;
        assert_eq!(text(response).await, "1234");
    }
}
