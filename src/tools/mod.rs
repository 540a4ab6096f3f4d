//! One file per tool: its arguments, its output, its handler. Each file adds
//! a router to [`Toolkit`], what every tool works with; the server combines
//! them, in the order of the table in [`crate::domain::tool`].

mod asked;
pub mod delete;
pub mod list;
pub mod materialize;
pub mod report;
pub mod rotate;
pub mod set;

use std::sync::Arc;

use rmcp::handler::server::tool::schema_for_input;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::advice::{Failure, schema_mismatch};
use crate::ask_user::Asker;
use crate::domain::{Key, Rule};
use crate::osc::OscClient;
use crate::policy::Policy;
use crate::store::Store;
use crate::values::EnvAllowlist;

/// What the tools work with: the OSC client, the variables `fromEnv` may
/// read, the operator's guardrails, and what askUser works with. Shared by
/// every session; cheap to clone.
#[derive(Clone)]
pub struct Toolkit {
    pub(crate) osc: Arc<OscClient>,
    pub(crate) env: Arc<EnvAllowlist>,
    /// Read by the list tool for its key scope, and by confirmation.
    pub(crate) policy: Arc<Policy>,
    pub(crate) ask: Asker,
    /// Every answer comes from the offline OSC emulator.
    pub(crate) sandboxed: bool,
    /// The ledger of materializations (and, through the askUser context,
    /// spent states).
    pub(crate) store: Store,
}

impl Toolkit {
    /// Tools against `osc` with no guardrails, no `fromEnv` variables and
    /// nobody to ask.
    pub fn new(osc: Arc<OscClient>) -> Self {
        Toolkit {
            osc,
            env: Arc::default(),
            policy: Arc::new(Policy::default()),
            ask: Asker::default(),
            sandboxed: false,
            store: Store::memory(),
        }
    }

    /// Whether `key` exists now, if OSC says: the page shows it.
    pub(crate) async fn exists(&self, key: &Key) -> Option<bool> {
        let listing = self.osc.list().await.ok()?;
        Some(listing.entries.iter().any(|e| e.key == *key))
    }
}

/// The input schema of a tool that reads its arguments as an object (to
/// bind a sealed `requestState` to them). Only a type whose schema is not
/// an object has none: that is logged, never passed over, and the server's
/// test that every tool lists its arguments fails on it.
pub(crate) fn input_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    schema_for_input::<T>().unwrap_or_else(|_| {
        tracing::error!(
            arguments = std::any::type_name::<T>(),
            "a tool's arguments have no object schema"
        );
        Arc::default()
    })
}

/// `tool`'s arguments as its type, from the raw object (the tool keeps the
/// object too, to bind sealed states to it). The schema check before the
/// call lets nothing through that fails here; should it ever, the refusal
/// is the same as the schema check's, never the parser's words.
///
/// `false` for an object argument means "left out", as the schema check
/// reads it (`"generate": false`).
pub(crate) fn parse<T: DeserializeOwned>(tool: &str, arguments: &JsonObject) -> Result<T, Failure> {
    let mut given = arguments.clone();
    given.retain(|name, value| !(name == "generate" && *value == serde_json::Value::Bool(false)));
    serde_json::from_value(serde_json::Value::Object(given))
        .map_err(|_| Failure::refused(Rule::Arguments, schema_mismatch(tool)))
}

/// A structured tool result of `output` (with its text copy).
pub(crate) fn structured<T: Serialize>(output: &T) -> CallToolResult {
    match serde_json::to_value(output) {
        Ok(value) => CallToolResult::structured(value),
        Err(_) => CallToolResult::error(vec![ContentBlock::text(
            "the result could not be serialized; call list_tenant_secrets to see the key's state",
        )]),
    }
}

/// Who made a call, for the ledger: with OAuth the access token's subject,
/// else the MCP client's name as it gave it; as one safe line (see
/// [`crate::store::one_line`]).
pub(crate) fn caller(context: &rmcp::service::RequestContext<rmcp::RoleServer>) -> String {
    // With OAuth, the person the authorization server vouched for, not
    // whatever name the client gave itself.
    if let Some(identity) = crate::audit::identity(&context.extensions) {
        return crate::store::one_line(&identity.subject);
    }
    let name = context
        .peer
        .peer_info()
        .map(|info| info.client_info.name.clone())
        .unwrap_or_default();
    crate::store::one_line(&name)
}
