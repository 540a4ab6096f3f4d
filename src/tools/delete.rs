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
            note: "Copies already materialized into services stay in place until those services' secrets are replaced or removed.".to_owned(),
        }))
    }
}
