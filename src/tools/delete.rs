//! `delete_tenant_secret`: remove a `user.*` key.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Toolkit;
use crate::advice::{Failure, Op, advise, refused};
use crate::domain::Key;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// A `user.*` key, e.g. `user.my-api-key`.
    pub key: String,
}
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOutput {
    // The key deleted.
    pub key: String,
    // OSC confirmed it.
    pub deleted: bool,
    // About service copies.
    pub note: String,
}

#[tool_router(router = delete_router, vis = "pub(crate)")]
impl Toolkit {
    #[tool(
        title = "Delete a tenant secret",
        description = "Delete a `user.*` key; copies materialized into services stay. Never returns a value.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn delete_tenant_secret(
        &self,
        Parameters(args): Parameters<DeleteArgs>,
    ) -> Result<Json<DeleteOutput>, Failure> {
        let key = Key::parse(&args.key)
            .and_then(|k| k.writable("delete"))
            .map_err(refused)?;
        self.osc
            .delete(&key)
            .await
            .map_err(|e| advise(e, Op::Delete { key: &key }))?;
        tracing::info!(key = %key, "tenant secret deleted");
        Ok(Json(DeleteOutput {
            key: key.to_string(),
            deleted: true,
            note: self.copies_note(&key).await,
        }))
    }
}

impl Toolkit {
    /// What the result says of the copies the key leaves behind: the
    /// service secrets the ledger knows hold one.
    async fn copies_note(&self, key: &Key) -> String {
        const STAY: &str = "Copies already materialized into services stay in place until those services' secrets are replaced or removed.";
        const LEDGER: &str = "(from this server's ledger, which knows only what this server did)";
        match self.store.placements(key).await {
            Ok(placements) if placements.is_empty() => {
                format!(
                    "{STAY} This server's ledger knows of no service holding a copy of `{key}`; it knows only what this server did."
                )
            }
            Ok(placements) => {
                let named: Vec<String> = placements
                    .iter()
                    .map(|p| format!("`{}` secret `{}`", p.service_id, p.secret_name))
                    .collect();
                format!(
                    "{STAY} Services still holding a copy of `{key}` {LEDGER}: {}. \
                     Replace or remove each of those secrets, or materialize another key into them.",
                    named.join(", ")
                )
            }
            Err(e) => format!("{STAY} Which services hold a copy is not known now: {e}."),
        }
    }
}
