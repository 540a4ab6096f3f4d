//! What set_tenant_secret and rotate_tenant_secret say of the value they
//! wrote, or will write once the human has typed it: one typed report both
//! flatten into their output, and the askUser branch both take.
//!
//! The enums serialize as the words the outputs have always carried; their
//! schemas stay plain strings, as every word of an output schema is paid
//! for in tools/list (docs/tools.md lists the values).

use rmcp::model::CallToolResponse;
use schemars::JsonSchema;
use serde::Serialize;

use super::{Toolkit, structured};
use crate::advice::Failure;
use crate::ask_user::flow::{self, Asking, Pending};
use crate::domain::{Key, WriteMode};
use crate::values::Origin;

/// The argument the value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    AskUser,
    Generate,
    Value,
    FromEnv,
}

impl Source {
    pub fn of(origin: &Origin) -> Source {
        match origin {
            Origin::Asked => Source::AskUser,
            Origin::Generated(_) => Source::Generate,
            Origin::Given => Source::Value,
            Origin::Env(_) => Source::FromEnv,
        }
    }
}

/// Where an askUser call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The human typed the value and the tool ran with it.
    Completed,
    /// The link was handed to the agent; the page writes on its own.
    Pending,
}

/// How a generated value was made.
#[derive(Serialize, JsonSchema)]
pub struct GeneratedInfo {
    // Characters.
    pub length: u32,
    // Alphabet.
    pub alphabet: String,
}

/// The fields set and rotate share.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueReport {
    // The key written.
    pub key: String,
    // `askUser`, `generate`, `value` or `fromEnv`.
    #[schemars(with = "String")]
    pub source: Source,
    // askUser: `completed`, or `pending` until the page is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub status: Option<Status>,
    // Pending: the page to show the human.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    // Pending: when `url` expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    // With `generate`: how.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub generated: Option<GeneratedInfo>,
    // With `fromEnv`: the variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    // What to do next.
    pub next_step: String,
}

impl ValueReport {
    /// A value from `origin` is stored under `key`.
    pub fn written(key: &Key, origin: &Origin, next_step: String) -> Self {
        ValueReport {
            key: key.to_string(),
            source: Source::of(origin),
            status: (*origin == Origin::Asked).then_some(Status::Completed),
            url: None,
            expires_at: None,
            generated: match origin {
                Origin::Generated(recipe) => Some(GeneratedInfo {
                    length: u32::try_from(recipe.length).unwrap_or(u32::MAX),
                    alphabet: recipe.alphabet.as_str().to_owned(),
                }),
                _ => None,
            },
            from_env: match origin {
                Origin::Env(name) => Some(name.clone()),
                _ => None,
            },
            next_step,
        }
    }

    /// Nothing is written yet: the agent is to show the human `link`.
    pub(crate) fn pending(key: &Key, link: Pending, next_step: String) -> Self {
        ValueReport {
            key: key.to_string(),
            source: Source::AskUser,
            status: Some(Status::Pending),
            url: Some(link.url),
            expires_at: Some(link.expires_at),
            generated: None,
            from_env: None,
            next_step,
        }
    }
}

/// What `mode` a report names, as the word the argument takes.
pub fn serialize_mode<S: serde::Serializer>(mode: &WriteMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.as_str())
}

impl Toolkit {
    /// askUser for set and rotate: the human types the value on a one-time
    /// page, and the link's job (this tool's `work`, run by
    /// [`super::asked`] on whichever replica serves the page) writes it;
    /// `pending` is the result for a link handed to the agent. Whether the
    /// key exists (the page says it will be replaced) is asked of OSC
    /// unless the tool already knows.
    pub(crate) async fn ask_user<T: Serialize>(
        &self,
        call: Asking<'_>,
        work: serde_json::Value,
        exists: Option<bool>,
        pending: impl FnOnce(Pending) -> T,
    ) -> Result<CallToolResponse, Failure> {
        if let Some(links) = self.ask.links() {
            links.set_worker(self.worker());
        }
        let links = flow::ready(&self.ask, &call)?;
        let exists = match exists {
            Some(known) => Some(known),
            None => self.exists(call.key).await,
        };
        flow::ask(&self.ask, links, call, exists, work, |link| {
            structured(&pending(link))
        })
        .await
    }
}
