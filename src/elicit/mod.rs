//! Asking the human, in whichever way the client can be asked.
//!
//! Two protocol eras ask differently:
//! - Up to 2025-11-25 the server sends `elicitation/create` to the client on
//!   the session and awaits the answer inside the tool call ([`Era::Session`]).
//!   Needs a session: over stateless HTTP the client's capabilities are
//!   forgotten, so it cannot be asked.
//! - From 2026-07-28 the tool answers with an `InputRequiredResult` carrying
//!   the requests and a sealed `requestState`; the client retries the call
//!   with the answers and the state ([`Era::Retry`], see [`state`]).
//!
//! [`Reach::of`] says which era a request is in and what its client
//! advertised; the callers (confirmation, `askUser`) decide what to do with
//! it. Capabilities are checked here, never assumed: rmcp checks them for
//! `Peer::elicit*`, but not for what goes into an `InputRequiredResult`.

pub mod ask;
pub mod confirm;
pub mod links;
pub mod request;
pub mod state;

use rand::TryRngCore;
use rand::rngs::OsRng;
use rmcp::RoleServer;
use rmcp::model::ProtocolVersion;
use rmcp::service::RequestContext;

pub use request::{
    Answer, form_request, input_required, notify_complete, read_answer, url_request,
};
pub use state::{Binding, MemorySpent, Spent, StateRefused, States};

/// How a client is asked for input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25 and older: `elicitation/create` on the session.
    Session,
    /// 2026-07-28 and newer: an `InputRequiredResult`, answered by a retry.
    Retry,
}

/// What the client of one request can be asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    pub era: Era,
    /// It advertised form-mode elicitation (and, in the session era, has a
    /// session to be asked on).
    pub form: bool,
    /// It advertised URL-mode elicitation (likewise).
    pub url: bool,
}

impl Reach {
    /// Reads the negotiated protocol version and the client's capabilities:
    /// from the request's own `_meta` in the retry era, from `initialize`
    /// on a session. A session-era client without a session (stateless
    /// HTTP) has no remembered capabilities, so it can be asked nothing.
    pub fn of(context: &RequestContext<RoleServer>) -> Reach {
        let era = if context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
        {
            Era::Retry
        } else {
            Era::Session
        };
        let (form, url) = match context.client_capabilities().and_then(|c| c.elicitation) {
            // A capability with neither mode named is form mode (2025-06-18).
            Some(e) if e.form.is_none() && e.url.is_none() => (true, false),
            Some(e) => (e.form.is_some(), e.url.is_some()),
            None => (false, false),
        };
        Reach { era, form, url }
    }

    /// Nobody can be asked anything.
    pub fn none(era: Era) -> Reach {
        Reach {
            era,
            form: false,
            url: false,
        }
    }
}

/// The OS generator failed; no unguessable token could be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's secure random generator failed")]
pub struct NoRandomness;

/// `bytes` bytes from the operating system's secure generator, as lower-case
/// hex: nonces of sealed states and the paths of one-time links.
pub fn unguessable(bytes: usize) -> Result<String, NoRandomness> {
    let mut raw = vec![0u8; bytes];
    OsRng.try_fill_bytes(&mut raw).map_err(|_| NoRandomness)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn unguessable_tokens_are_hex_of_the_length_asked_and_differ() {
        let a = unguessable(16).unwrap();
        let b = unguessable(16).unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
