//! HTTP pieces shared by every listener of the server (the MCP endpoint, and
//! askUser's one-time value page): Host and Origin rules, fixed JSON
//! refusals, a header's text read quickly.

pub mod body;
pub mod header;
pub mod hosts;
pub mod refusal;

pub use body::{BodyCap, BodyError};
pub use header::header_text;
pub use hosts::{HostRules, OriginRules};
pub use refusal::{Refusal, body_too_large, body_too_slow, error_response};

/// A header map from name and value pairs, for unit tests of the rules.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
    let mut map = axum::http::HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, axum::http::HeaderValue::from_str(value).unwrap());
    }
    map
}
