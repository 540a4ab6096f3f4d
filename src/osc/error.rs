//! Why an OSC request failed, as a type the server turns into advice.
//!
//! No variant carries text from OSC: an upstream error body can echo the
//! request, and so a value, or another stored value this server never saw and
//! could not recognise. What happened is said in the server's own words, from
//! the status and the kind of failure alone.

use std::time::Duration;

/// Why a request failed, in terms the tool layer turns into advice.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OscError {
    #[error("OSC rejected the access token (401)")]
    Unauthorized,
    #[error("OSC refused the request (403)")]
    Forbidden,
    #[error("OSC has no such item (404)")]
    NotFound,
    #[error("OSC reported a conflict (409)")]
    Conflict,
    #[error("OSC rejected the request as malformed ({status})")]
    BadRequest { status: u16 },
    #[error("OSC is rate limiting requests (429)")]
    RateLimited {
        retry_after: Option<Duration>,
        attempts: u32,
    },
    #[error("OSC is unavailable ({status}) after {attempts} attempt(s)")]
    Unavailable {
        status: u16,
        attempts: u32,
        retry_after: Option<Duration>,
    },
    #[error("OSC did not answer within the timeout after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    #[error("the call's deadline of {} s passed after {attempts} attempt(s)", deadline.as_secs())]
    Deadline { attempts: u32, deadline: Duration },
    /// OSC was connected to, and then the connection broke or carried
    /// something that is not HTTP: the request may have arrived.
    #[error(
        "the connection to OSC broke after {attempts} attempt(s); the request may have arrived"
    )]
    Interrupted { attempts: u32 },
    /// The connection was refused: the request never arrived.
    #[error("OSC could not be reached after {attempts} attempt(s)")]
    Unreachable { attempts: u32 },
    #[error("OSC answered with unexpected status {status}")]
    Unexpected { status: u16 },
    #[error("OSC's answer is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// `what` is always the server's own fixed wording.
    #[error("OSC's answer could not be read: {what}")]
    Decode { what: &'static str },
    #[error("the HTTP client could not be set up: {what}")]
    Setup { what: String },
}
