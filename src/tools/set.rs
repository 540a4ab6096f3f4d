//! `set_tenant_secret`: store a value under a `user.*` key.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{Key, SecretArg, WriteMode};
use crate::osc::WriteOutcome;
use crate::server::SecretsServer;
use crate::server::advice::{Op, advise, refused};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetArgs {
    /// The key to write: `user.` followed by a name of letters, digits, `.`, `-` and `_`, for example `user.stripe-api-key`. `system.*` keys cannot be written.
    #[schemars(example = "user.stripe-api-key")]
    pub key: String,
    /// The secret value. It is stored in OSC and never shown again by any tool.
    pub value: SecretArg,
    /// `upsert` (default) creates the key or replaces its value; `create` fails if the key already exists.
    #[serde(default)]
    #[schemars(extend("default" = "upsert"))]
    pub mode: Option<ModeArg>,
}

/// How a write treats an existing key. The variants carry no doc comments,
/// so the schema is a plain `enum` of strings rather than a `oneOf`.
#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModeArg {
    // Creates the key or replaces its value.
    Upsert,
    // Fails if the key already exists.
    Create,
}

impl From<ModeArg> for WriteMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Upsert => WriteMode::Upsert,
            ModeArg::Create => WriteMode::Create,
        }
    }
}
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetOutput {
    /// The key that was written.
    pub key: String,
    /// The mode used: `upsert` or `create`.
    pub mode: String,
    /// `created` when OSC said the key is new; `written` when OSC stored the value without saying whether the key existed before.
    pub outcome: String,
    /// What to do next.
    pub next_step: String,
}

#[tool_router(router = set_router, vis = "pub(crate)")]
impl SecretsServer {
    #[tool(
        title = "Set a tenant secret",
        description = "Store a secret value under a `user.*` key in the tenant's OSC secrets. \
`mode` `upsert` (default) creates or replaces, which is how to rotate; `create` refuses to overwrite an existing key. \
Returns the key and the outcome, never the value. The value cannot be read back by any tool. \
After a rotation, services keep their old copy until you call materialize_tenant_secret again for each of them. \
`system.*` keys belong to the platform and are refused.",
        annotations(
            title = "Set a tenant secret",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn set_tenant_secret(
        &self,
        Parameters(args): Parameters<SetArgs>,
    ) -> Result<Json<SetOutput>, String> {
        let key = Key::parse(&args.key)
            .and_then(|k| k.writable("write"))
            .map_err(refused)?;
        let mode = args.mode.map_or(WriteMode::Upsert, WriteMode::from);
        let value = args.value.into_secret().map_err(refused)?;
        let outcome = match mode {
            WriteMode::Upsert => self.osc.upsert(&key, &value).await,
            WriteMode::Create => self.osc.create(&key, &value).await,
        }
        .map_err(|e| advise(e, Op::Set { key: &key, mode }))?;
        tracing::info!(key = %key, mode = mode.as_str(), "tenant secret written");
        Ok(Json(SetOutput {
            key: key.to_string(),
            mode: mode.as_str().to_owned(),
            outcome: match outcome {
                WriteOutcome::Created => "created",
                WriteOutcome::Written => "written",
            }
            .to_owned(),
            next_step: format!(
                "To use it in a service, call materialize_tenant_secret with key `{key}`. \
                 Services that already use this key keep their old copy until you materialize it again for each of them."
            ),
        }))
    }
}
