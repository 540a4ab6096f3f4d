//! `list_tenant_secrets`: keys and their metadata, never a value.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{self, Owner};
use crate::server::SecretsServer;
use crate::server::advice::{Op, advise, refused};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only keys with this owner: `user` (your keys) or `system` (platform keys). Omit for both.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only keys that contain this text, for example `gitcred` or `api`. Case-insensitive.
    #[serde(default)]
    pub contains: Option<String>,
}
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// The full key, for example `user.my-api-key`.
    pub key: String,
    /// `user` or `system`.
    pub prefix: String,
    /// When OSC last changed the value, as OSC reports it; absent if OSC did not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListOutput {
    /// How many keys are listed.
    #[schemars(schema_with = "count_schema")]
    pub count: u32,
    /// The keys, sorted. Values are never included.
    pub secrets: Vec<KeyInfo>,
}
/// A plain non-negative integer: the `uint32` format schemars would add is
/// unknown to several clients' validators, which warn about it.
fn count_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "integer", "minimum": 0 })
}

#[tool_router(router = list_router, vis = "pub(crate)")]
impl SecretsServer {
    #[tool(
        title = "List tenant secrets",
        description = "List the keys of the tenant's OSC secrets, with owner (`user` or `system`) and last update time. \
Use it to find the key to materialize into a service, or to check whether a key exists before writing. \
Never returns values: no tool of this server can read a secret value, so secrets never enter your context; services get them through references (see materialize_tenant_secret).",
        annotations(
            title = "List tenant secrets",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn list_tenant_secrets(
        &self,
        Parameters(args): Parameters<ListArgs>,
    ) -> Result<Json<ListOutput>, String> {
        let owner = args
            .prefix
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(Owner::parse_filter)
            .transpose()
            .map_err(refused)?;
        let contains = args
            .contains
            .as_deref()
            .map(domain::filter)
            .transpose()
            .map_err(refused)?
            .map(str::to_ascii_lowercase);
        let entries = self.osc.list().await.map_err(|e| advise(e, Op::List))?;
        let mut secrets: Vec<KeyInfo> = entries
            .into_iter()
            .filter_map(|e| {
                let prefix = e
                    .prefix
                    .filter(|p| !p.is_empty())
                    .map(|p| p.trim_end_matches('.').to_owned())
                    .or_else(|| e.key.split('.').next().map(str::to_owned))
                    .unwrap_or_default();
                let keep = owner.is_none_or(|o| o.as_str() == prefix)
                    && contains
                        .as_deref()
                        .is_none_or(|c| e.key.to_ascii_lowercase().contains(c));
                keep.then_some(KeyInfo {
                    key: e.key,
                    prefix,
                    updated_at: e.updated_at,
                })
            })
            .collect();
        secrets.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Json(ListOutput {
            count: u32::try_from(secrets.len()).unwrap_or(u32::MAX),
            secrets,
        }))
    }
}
