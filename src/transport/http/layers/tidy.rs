//! rmcp's answers to `POST`/`DELETE /mcp`, tidied: its plain-text error
//! bodies can quote serde errors about the request body, and so fragments
//! of it, so they are replaced with fixed sentences; a closed session is
//! `204`, not rmcp's `202`.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::around::Around;
use crate::web::error_response;

/// The layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RmcpAnswers;

impl Around for RmcpAnswers {
    /// Whether the request was a `DELETE`.
    type Note = bool;

    fn before(&self, request: &mut Request) -> Result<bool, Response> {
        Ok(request.method() == Method::DELETE)
    }

    fn after(is_delete: bool, mut response: Response) -> Response {
        if is_delete && response.status() == StatusCode::ACCEPTED {
            // The session is gone, not queued for deletion; clients expect 200 or 204.
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
        match response.status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_body",
                "The body must be one JSON-RPC message, sent with `Content-Type: application/json`.",
            ),
            StatusCode::INTERNAL_SERVER_ERROR => error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "The server could not handle this request; the server log says why.",
            ),
            _ => response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::around::AroundLayer;
    use axum::Router;
    use axum::response::IntoResponse;
    use axum::routing::any;

    use super::super::testing::{request, send, text};
    use super::*;

    fn answering(status: StatusCode, body: &'static str) -> Router {
        Router::new()
            .route(
                "/mcp",
                any(move || async move { (status, body).into_response() }),
            )
            .layer(AroundLayer(RmcpAnswers))
    }

    #[tokio::test]
    async fn rmcp_error_text_never_reaches_the_client() {
        for status in [
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            let router = answering(status, "parse error near \"canary-value\"");
            let response = send(&router, request("POST", "/mcp", &[], "")).await;
            assert_eq!(response.status(), status);
            let body = text(response).await;
            assert!(!body.contains("canary"), "{body}");
            assert!(body.starts_with("{\"error\""), "{body}");
        }
        let router = answering(StatusCode::BAD_REQUEST, "kept");
        let response = send(&router, request("POST", "/mcp", &[], "")).await;
        assert_eq!(text(response).await, "kept");
    }

    #[tokio::test]
    async fn a_closed_session_is_204_only_for_delete() {
        let router = answering(StatusCode::ACCEPTED, "");
        let deleted = send(&router, request("DELETE", "/mcp", &[], "")).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let posted = send(&router, request("POST", "/mcp", &[], "")).await;
        assert_eq!(posted.status(), StatusCode::ACCEPTED);
    }
}
