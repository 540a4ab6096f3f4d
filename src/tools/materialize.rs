//! `materialize_tenant_secret`: copy a tenant secret into a service, server side, and return its reference.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use super::{Toolkit, caller};
use crate::advice::{Failure, Op, advise, refused};
use crate::domain::{self, Key};
use crate::store::Placement;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterializeArgs {
    /// `user.*` or `system.*`, e.g. `user.my-api-key`.
    pub key: String,
    /// Id, e.g. `eyevinn-my-service`.
    #[serde(rename = "serviceId")]
    pub service_id: String,
    /// a-z and 0-9, e.g. `apikey`.
    #[serde(rename = "secretName")]
    pub secret_name: String,
}
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaterializeOutput {
    /// The whole parameter value.
    pub reference: String,
    // The key copied.
    pub key: String,
    // The service.
    pub service_id: String,
    // Its secret.
    pub secret_name: String,
    // False if built, OSC gave none.
    pub reference_from_osc: bool,
    // How to use it.
    pub instruction: String,
}

#[tool_router(router = materialize_router, vis = "pub(crate)")]
impl Toolkit {
    #[tool(
        title = "Materialize a tenant secret",
        description = "Copy a key into a service secret inside OSC; returns `{{secrets.<secretName>}}`: \
the whole parameter value, exactly. The value never passes here.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn materialize_tenant_secret(
        &self,
        Parameters(args): Parameters<MaterializeArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<MaterializeOutput>, Failure> {
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
        let placement = Placement::now(&key, service_id, secret_name, &caller(&context));
        let unrecorded = match self.store.place(&placement).await {
            Ok(()) => String::new(),
            Err(e) => {
                tracing::warn!(error = %e, "a materialization was not recorded in the ledger");
                format!(
                    " The copy was made, but {e}, so this server's ledger does not know it: \
                     name this target in `targets` when you rotate `{key}`."
                )
            }
        };
        Ok(Json(MaterializeOutput {
            instruction: format!(
                "Set the service parameter's value to exactly `{}`. Do not add text around it.{unrecorded}",
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
