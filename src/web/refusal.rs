//! Fixed JSON refusals: `{"error": code, "message": sentence}`. The sentence
//! never quotes what the client sent.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A JSON error body: `{"error": code, "message": sentence}`. The sentence
/// never quotes what the client sent.
pub fn error_response(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response {
    (
        status,
        axum::Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}
/// A request body longer than the server reads.
pub fn body_too_large(limit: usize) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "The request body is larger than this server accepts ({limit} bytes, MCP_MAX_BODY_BYTES)."
        ),
    )
}

/// A request body that did not arrive within the time allowed.
pub fn body_too_slow(timeout: Duration) -> Response {
    error_response(
        StatusCode::REQUEST_TIMEOUT,
        "body_too_slow",
        format!(
            "The request body did not arrive within {} seconds (MCP_HEADER_TIMEOUT_SECS). Send it at once, then retry.",
            timeout.as_secs()
        ),
    )
}

/// A request refused for where it came from or whom it names (Host and
/// Origin rules), before anything else is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    HostNotAllowed,
    OriginNotAllowed,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::HostNotAllowed => error_response(
                StatusCode::FORBIDDEN,
                "host_not_allowed",
                "The Host header names a host this server does not answer to (DNS-rebinding protection). The operator can \
                 add it to MCP_ALLOWED_HOSTS.",
            ),
            Refusal::OriginNotAllowed => error_response(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "Requests from this web origin are not allowed (DNS-rebinding and cross-site protection). The operator can \
                 add it to MCP_ALLOWED_ORIGINS.",
            ),
        }
    }
}
