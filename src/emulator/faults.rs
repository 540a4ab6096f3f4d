//! Scripted misbehaviour: statuses, Retry-After, delays, raw bodies.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::answers::{JSON_UTF8, TEXT_UTF8, fastify_body, fastify_error, with_content_type};

/// A scripted misbehaviour, so tests can exercise retries, rate limits, slow
/// answers and malformed bodies. Faults act before auth, like a proxy or load
/// balancer in front of the real service would.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct Fault {
    /// Match only this method (case-insensitive); None = any.
    pub method: Option<String>,
    /// Match raw paths starting with this; None = any contract path.
    pub path_prefix: Option<String>,
    /// Answer with this status (200..=599) instead of handling the request.
    pub status: Option<u16>,
    /// Retry-After header value to add to the fault answer.
    pub retry_after: Option<String>,
    /// Sleep this long first (then answer the fault status, or handle normally if status is None).
    pub delay_ms: Option<u64>,
    /// Raw body of the fault answer (default: a Fastify-style JSON error body for that status).
    pub body: Option<String>,
    /// Content type of the answer (default application/json for the default body, text/plain for a raw body).
    pub content_type: Option<String>,
    /// Quote the request body, as text, in the fault answer's `message`, like
    /// a hostile or careless upstream that echoes what it was sent.
    pub echo_body: bool,
    /// How many matching requests it applies to; None = until cleared.
    pub times: Option<u32>,
}

impl Fault {
    pub(super) fn matches(&self, method: &Method, path: &str) -> bool {
        self.times != Some(0)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
    }

    /// Why this fault could not be answered, if it could not; the admin
    /// endpoint refuses such faults up front instead of failing mid-test.
    pub(super) fn problem(&self) -> Option<&'static str> {
        if self.status.is_some_and(|s| !(200..=599).contains(&s)) {
            return Some("status must be within 200..=599");
        }
        if let Some(value) = &self.retry_after
            && HeaderValue::from_str(value).is_err()
        {
            return Some("retry_after is not a valid header value");
        }
        if let Some(value) = &self.content_type
            && HeaderValue::from_str(value).is_err()
        {
            return Some("content_type is not a valid header value");
        }
        None
    }
}

pub(super) fn fault_response(fault: &Fault, status: u16, request_body: &[u8]) -> Response {
    let Some(status) = StatusCode::from_u16(status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
    else {
        return fastify_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "emulator fault has a status outside 200..=599",
        );
    };
    let (body, default_type) = match &fault.body {
        Some(raw) => (raw.clone(), TEXT_UTF8),
        None if fault.echo_body => (
            fastify_body(
                status,
                None,
                &format!(
                    "Could not process body {}",
                    String::from_utf8_lossy(request_body)
                ),
            )
            .to_string(),
            JSON_UTF8,
        ),
        None if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED => {
            (String::new(), JSON_UTF8)
        }
        None if status.is_success() => ("{}".to_owned(), JSON_UTF8),
        None => (
            fastify_body(status, None, "Fault injected by the OSC emulator").to_string(),
            JSON_UTF8,
        ),
    };
    let content_type = fault.content_type.as_deref().unwrap_or(default_type);
    let mut response = with_content_type((status, body).into_response(), content_type);
    if let Some(retry_after) = &fault.retry_after
        && let Ok(value) = HeaderValue::from_str(retry_after)
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
