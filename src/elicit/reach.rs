//! Which era a request is in, and what its client can be asked.

use rmcp::RoleServer;
use rmcp::model::ProtocolVersion;
use rmcp::service::RequestContext;

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
