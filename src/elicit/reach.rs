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

/// Who is calling, as far as caps on open questions are concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The MCP session the request came on (Streamable HTTP or legacy
    /// SSE); a sealed state is bound to it.
    pub session: Option<String>,
    /// What one-time links and spent states are counted against: the
    /// session, else the remote address; `None` over stdio, whose one
    /// client the per-process caps already bound.
    pub counted_as: Option<String>,
}

impl Caller {
    pub fn of(context: &RequestContext<RoleServer>) -> Caller {
        let parts = context.extensions.get::<http::request::Parts>();
        let session = parts
            .and_then(|p| p.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                context
                    .extensions
                    .get::<crate::audit::SseSession>()
                    .map(|s| s.0.to_string())
            });
        let address = parts
            .and_then(|p| {
                p.extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            })
            .map(|info| info.0.ip().to_string());
        let counted_as = session
            .as_ref()
            .map(|s| format!("session {s}"))
            .or(address.map(|a| format!("address {a}")));
        Caller {
            session,
            counted_as,
        }
    }
}
