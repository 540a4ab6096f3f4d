//! `materialize_tenant_secret`: copy a tenant secret into a service, server side, and return its reference.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{self, Key};
use crate::server::SecretsServer;
use crate::server::advice::{Op, advise, refused};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterializeArgs {
    /// The tenant secret to copy: a `user.*` or `system.*` key from list_tenant_secrets.
    #[schemars(example = "user.my-api-key")]
    pub key: String,
    /// The id of the service instance that will use the secret, for example `eyevinn-my-service`.
    #[serde(rename = "serviceId")]
    #[schemars(example = "eyevinn-my-service")]
    pub service_id: String,
    /// The name the service refers to the secret by: lowercase letters and digits, for example `apikey`. The reference becomes `{{secrets.<secretName>}}`.
    #[serde(rename = "secretName")]
    #[schemars(example = &"apikey")]
    pub secret_name: String,
}
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaterializeOutput {
    /// Pass this string, exactly, as the whole value of the service parameter.
    pub reference: String,
    /// The tenant secret that was copied.
    pub key: String,
    /// The service instance that received the copy.
    pub service_id: String,
    /// The name of the service secret that holds the copy.
    pub secret_name: String,
    /// False if OSC's answer held no reference, or one other than exactly `{{secrets.<secretName>}}`, and that documented form was built instead.
    pub reference_from_osc: bool,
    /// One sentence on how to use the reference.
    pub instruction: String,
}

#[tool_router(router = materialize_router, vis = "pub(crate)")]
impl SecretsServer {
    #[tool(
        title = "Materialize a tenant secret into a service",
        description = "Copy a tenant secret (`user.*` or `system.*`), server side inside OSC, into a secret of one service instance, \
and return the reference `{{secrets.<secretName>}}`. Pass that reference, exactly, as the whole value of the service parameter; \
OSC resolves it when it starts the service. The value itself never passes through this server's results. \
The copy is a snapshot: after rotating the tenant secret, call this again for every service that uses it. \
Materializing over an existing service secret of the same name replaces it.",
        annotations(
            title = "Materialize a tenant secret into a service",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn materialize_tenant_secret(
        &self,
        Parameters(args): Parameters<MaterializeArgs>,
    ) -> Result<Json<MaterializeOutput>, String> {
        let key = Key::parse(&args.key).map_err(refused)?;
        let service_id = domain::service_id(&args.service_id).map_err(refused)?;
        let secret_name = domain::secret_name(&args.secret_name).map_err(refused)?;
        let done = self
            .osc
            .materialize(&key, service_id, secret_name)
            .await
            .map_err(|e| {
                advise(
                    e,
                    Op::Materialize {
                        key: &key,
                        service_id,
                    },
                )
            })?;
        tracing::info!(
            key = %key,
            service_id,
            secret_name,
            reference_from_osc = done.from_osc,
            "tenant secret materialized"
        );
        Ok(Json(MaterializeOutput {
            instruction: format!(
                "Set the service parameter's value to exactly `{}`. Do not add text around it.",
                done.reference
            ),
            reference: done.reference,
            key: key.to_string(),
            service_id: service_id.to_owned(),
            secret_name: secret_name.to_owned(),
            reference_from_osc: done.from_osc,
        }))
    }
}
