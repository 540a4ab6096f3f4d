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
    /// What a sealed state is bound to: the MCP session the request came
    /// on (Streamable HTTP or legacy SSE); with OAuth, that session and the
    /// token's subject (the subject alone without a session), so a state
    /// opens only for the person it was made for.
    pub session: Option<String>,
    /// What one-time links and spent states are counted against: with
    /// OAuth the token's subject (`subject <sub>`, see [`Caller::subject`]),
    /// else the session, else the remote address; `None` over stdio, whose
    /// one client the per-process caps already bound.
    pub counted_as: Option<String>,
}

/// How [`Caller::counted_as`] names a subject.
const SUBJECT: &str = "subject ";

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
        if let Some(identity) = crate::audit::identity(&context.extensions) {
            let subject = format!("{SUBJECT}{}", identity.subject);
            return Caller {
                session: Some(match session {
                    Some(session) => format!("session {session} of {subject}"),
                    None => subject.clone(),
                }),
                counted_as: Some(subject),
            };
        }
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

    /// The OAuth subject of the access token the request came with, if it
    /// came with one: what a page that signs the person in compares with.
    pub fn subject(&self) -> Option<&str> {
        self.counted_as.as_deref()?.strip_prefix(SUBJECT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_read_back_only_from_a_subject() {
        let by = |counted: &str| Caller {
            session: None,
            counted_as: Some(counted.to_owned()),
        };
        assert_eq!(by("subject alice").subject(), Some("alice"));
        assert_eq!(by("session subject x").subject(), None);
        assert_eq!(by("address 192.0.2.1").subject(), None);
        assert_eq!(Caller::default().subject(), None);
    }
}
