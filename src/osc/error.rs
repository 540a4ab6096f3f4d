//! Why an OSC request failed, as a type the server turns into advice.

use std::time::Duration;

/// Why a request failed, in terms the tool layer turns into advice.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OscError {
    #[error("OSC rejected the access token (401)")]
    Unauthorized { detail: String },
    #[error("OSC refused the request (403)")]
    Forbidden { detail: String },
    #[error("OSC has no such item (404)")]
    NotFound { detail: String },
    #[error("the key already exists (409)")]
    Conflict { detail: String },
    #[error("OSC rejected the request as malformed ({status})")]
    BadRequest { status: u16, detail: String },
    #[error("OSC is rate limiting requests (429)")]
    RateLimited {
        retry_after: Option<Duration>,
        attempts: u32,
    },
    #[error("OSC is unavailable ({status}) after {attempts} attempt(s)")]
    Unavailable {
        status: u16,
        attempts: u32,
        detail: String,
    },
    #[error("OSC did not answer within the timeout after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    #[error("OSC could not be reached after {attempts} attempt(s)")]
    Unreachable { attempts: u32 },
    #[error("OSC answered with unexpected status {status}")]
    Unexpected { status: u16, detail: String },
    #[error("OSC's answer could not be read: {what}")]
    Decode { what: String },
    #[error("the HTTP client could not be set up: {what}")]
    Setup { what: String },
}
