//! One audit record: who called which tool on what, and what came of it.
//! Built only from names this server checked and from fixed words: never a
//! value, never the token, never a tool argument that failed its rule.

use std::io;
use std::time::SystemTime;

use rmcp::RoleServer;
use rmcp::model::{JsonObject, NumberOrString};
use rmcp::service::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{self, Key, Rule};

/// Longest client-supplied text kept (client name, version, ids).
const MAX_FIELD: usize = 128;

/// The SSE transport's session id, attached to each request it hands the
/// handler (the Streamable HTTP one is read from the request's header).
#[derive(Clone, Debug)]
pub(crate) struct SseSession(pub(crate) std::sync::Arc<str>);

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not an end: written, and synced, before a change is sent under
    /// `--audit-required`. The call's outcome follows in a record of its own.
    Attempt,
    Ok,
    /// The call failed; the word says how (an OSC error kind, or `tool`).
    Error(&'static str),
    /// Refused before contacting OSC, by the named rule.
    Refused(Rule),
    /// askUser: a one-time link is open and the human has yet to use it.
    Pending,
    /// askUser: the human declined; nothing was written.
    Declined,
    /// askUser: the link expired unused; nothing was written.
    Expired,
    /// askUser: the client cancelled the call (`notifications/cancelled`)
    /// before the link was used; it was withdrawn and nothing was written.
    Cancelled,
}

impl Outcome {
    /// The record's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Attempt => "attempt",
            Outcome::Ok => "ok",
            Outcome::Error(_) => "error",
            Outcome::Refused(_) => "refused",
            Outcome::Pending => "pending",
            Outcome::Declined => "declined",
            Outcome::Expired => "expired",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Who called what, read from the request before it runs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub tool: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Where a written value came from: `value` (the tool argument, which
    /// the model saw), `askUser`, `fromEnv` or `generate` (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_source: Option<&'static str>,
    /// A rotation's targets: from its arguments, or from the ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<Target>>,
    pub client: Client,
    /// With OAuth: the access token's subject, the person (or service) the
    /// authorization server vouched for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// With OAuth: the client the token was issued to (`client_id`, else `azp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub request: String,
}

/// A call as it travels in a one-time link's sealed record, to be written
/// by whichever replica runs the page's write: read back word for word,
/// its fixed words (kind, source, transport) mapped to this build's own.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    tool: String,
    kind: String,
    key: Option<String>,
    service_id: Option<String>,
    secret_name: Option<String>,
    value_source: Option<String>,
    targets: Option<Vec<Target>>,
    client: Client,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    transport: String,
    session: Option<String>,
    request: String,
}

/// `word` as one of `known`, the `'static` form the record keeps.
fn known_word<E: serde::de::Error>(word: &str, known: &[&'static str]) -> Result<&'static str, E> {
    known
        .iter()
        .find(|k| **k == word)
        .copied()
        .ok_or_else(|| E::custom("an unknown word"))
}

impl<'de> Deserialize<'de> for Call {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Call, D::Error> {
        let stored = Stored::deserialize(d)?;
        Ok(Call {
            tool: clip(&stored.tool),
            kind: known_word(&stored.kind, &["read", "write", "destroy"])?,
            key: stored.key,
            service_id: stored.service_id,
            secret_name: stored.secret_name,
            value_source: stored
                .value_source
                .map(|v| known_word(&v, &["value", "askUser", "fromEnv", "generate"]))
                .transpose()?,
            targets: stored.targets,
            client: stored.client,
            subject: stored.subject.as_deref().map(clip),
            client_id: stored.client_id.as_deref().map(clip),
            transport: known_word(&stored.transport, &["streamable-http", "sse", "stdio"])?,
            session: stored.session,
            request: stored.request,
        })
    }
}

/// A service secret a rotation went to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub service_id: String,
    pub secret_name: String,
}

impl Target {
    pub fn new(service_id: &str, secret_name: &str) -> Target {
        Target {
            service_id: service_id.to_owned(),
            secret_name: secret_name.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub name: Option<String>,
    pub version: Option<String>,
}

impl Call {
    /// A use of an askUser one-time page by a browser signed in as
    /// `subject`: the call that opened the link when the link carries it
    /// (with the page's subject in place of the caller's), else the tool
    /// and key alone. Its transport is `page`.
    pub fn on_page(opened: Option<&Call>, tool: &str, key: &str, subject: &str) -> Call {
        let mut call = opened.cloned().unwrap_or_else(|| Call {
            tool: clip(tool),
            kind: "write",
            key: Some(clip(key)),
            service_id: None,
            secret_name: None,
            value_source: Some("askUser"),
            targets: None,
            client: Client {
                name: None,
                version: None,
            },
            subject: None,
            client_id: None,
            transport: "page",
            session: None,
            request: String::new(),
        });
        call.subject = Some(clip(subject));
        call.client_id = None;
        call.transport = "page";
        call
    }

    /// Reads the call's names from its arguments, keeping each only if it
    /// passes the rule its tool checks it by: a string that fails (which
    /// could be anything, a value pasted into the wrong field included) is
    /// left out.
    pub fn read(
        tool: &str,
        kind: &'static str,
        arguments: Option<&JsonObject>,
        context: &RequestContext<RoleServer>,
    ) -> Call {
        let text = |name: &str| arguments.and_then(|a| a.get(name)).and_then(Value::as_str);
        let key = text("key")
            .and_then(|k| Key::parse(k).ok())
            .map(|k| k.to_string());
        let service_id = text("serviceId")
            .and_then(|s| domain::service_id(s).ok())
            .map(str::to_owned);
        let secret_name = text("secretName")
            .and_then(|s| domain::secret_name(s).ok())
            .map(str::to_owned);
        // A source given as `false` or empty is "not this source", as the
        // tools read it.
        let given = |name: &str| match arguments.and_then(|a| a.get(name)) {
            Some(Value::Bool(on)) => *on,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Object(_)) => true,
            _ => false,
        };
        let writes_value = matches!(tool, "set_tenant_secret" | "rotate_tenant_secret");
        let value_source = ["value", "askUser", "fromEnv", "generate"]
            .into_iter()
            .find(|source| given(source))
            .or(writes_value.then_some("generate"));
        let targets = arguments
            .and_then(|a| a.get("targets"))
            .and_then(Value::as_array)
            .map(|given| {
                given
                    .iter()
                    .take(64)
                    .filter_map(|t| {
                        let service_id = domain::service_id(t.get("serviceId")?.as_str()?).ok()?;
                        let secret_name =
                            domain::secret_name(t.get("secretName")?.as_str()?).ok()?;
                        Some(Target::new(service_id, secret_name))
                    })
                    .collect()
            });
        let info = context.peer.peer_info();
        let client = Client {
            name: info.as_ref().map(|i| clip(&i.client_info.name)),
            version: info.as_ref().map(|i| clip(&i.client_info.version)),
        };
        let identity = crate::audit::identity(&context.extensions);
        let subject = identity.map(|i| clip(&i.subject));
        let client_id = identity.and_then(|i| i.client.as_deref()).map(clip);
        let (transport, session) =
            if let Some(parts) = context.extensions.get::<http::request::Parts>() {
                let session = parts
                    .headers
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .map(clip);
                ("streamable-http", session)
            } else if let Some(SseSession(id)) = context.extensions.get::<SseSession>() {
                ("sse", Some(clip(id)))
            } else {
                ("stdio", None)
            };
        let request = match &context.id {
            NumberOrString::Number(n) => n.to_string(),
            NumberOrString::String(s) => clip(s),
        };
        Call {
            tool: clip(tool),
            kind,
            key,
            service_id,
            secret_name,
            value_source,
            targets,
            client,
            subject,
            client_id,
            transport,
            session,
            request,
        }
    }
}

/// Client text, cut to [`MAX_FIELD`] characters with control characters
/// replaced (JSON escaping would keep them; a reader's terminal might not).
fn clip(raw: &str) -> String {
    raw.chars()
        .take(MAX_FIELD)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// A call and how it ended, ready to be chained.
pub struct Record<'a> {
    pub call: &'a Call,
    pub outcome: Outcome,
    pub duration_ms: u64,
}

impl Record<'_> {
    /// The record's line (without newline) as link `seq` after `prev`.
    pub(super) fn line(&self, seq: u64, prev: &str, replica: &str) -> io::Result<Vec<u8>> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Line<'a> {
            seq: u64,
            prev: &'a str,
            time: String,
            replica: &'a str,
            #[serde(flatten)]
            call: &'a Call,
            outcome: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            rule: Option<&'static str>,
            duration_ms: u64,
        }
        let (outcome, error, rule) = match self.outcome {
            Outcome::Error(kind) => ("error", Some(kind), None),
            Outcome::Refused(rule) => ("refused", None, Some(rule.name())),
            other => (other.word(), None, None),
        };
        let time = chrono::DateTime::<chrono::Utc>::from(SystemTime::now())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        serde_json::to_vec(&Line {
            seq,
            prev,
            time,
            replica,
            call: self.call,
            outcome,
            error,
            rule,
            duration_ms: self.duration_ms,
        })
        .map_err(io::Error::other)
    }
}
