//! The whole tool surface, in one handler that every transport serves.
//!
//! Results carry keys, references and outcomes; never a value. Anything the
//! model can correct comes back as a tool result with `isError: true` and a
//! sentence saying what to do next (see `docs/errors.md`).

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{Json, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::osc::{OscClient, OscError, WriteOutcome};
use crate::validate::{self, InputError, Key, Owner};

/// What the server tells every client at `initialize`.
pub const INSTRUCTIONS: &str = "\
This server manages Eyevinn Open Source Cloud (OSC) tenant secrets by reference. \
No tool ever returns a secret value, and none ever will: you work with keys and with references such as `{{secrets.apikey}}`, which OSC resolves itself when it starts a service. \
To wire a secret into a service: store it with set_tenant_secret under a `user.` key (or use an existing key from list_tenant_secrets), \
call materialize_tenant_secret with the key, the service id and a secret name, and pass the returned reference, exactly as returned, as the whole value of the service parameter. \
To rotate: set_tenant_secret the new value (mode `upsert`), then call materialize_tenant_secret again for every service that uses the key, because each service holds a copy made at materialize time. \
`system.*` keys belong to the platform: you can list and materialize them but not write or delete them.";

/// Names of every tool, in the order `tools/list` shows them (by name).
pub const TOOL_NAMES: [&str; 4] = [
    "delete_tenant_secret",
    "list_tenant_secrets",
    "materialize_tenant_secret",
    "set_tenant_secret",
];

/// A secret value as it arrives in tool arguments. It becomes a
/// `SecretString` during deserialization and never fails there, so that no
/// serde error message can quote it; the tool checks what arrived.
pub enum SecretArg {
    Text(SecretString),
    /// Not a JSON string; holds only the JSON type's name.
    NotText(&'static str),
}

impl<'de> Deserialize<'de> for SecretArg {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SecretArg;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<SecretArg, E> {
                Ok(SecretArg::Text(SecretString::from(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<SecretArg, E> {
                Ok(SecretArg::Text(SecretString::from(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("a number"))
            }
            fn visit_unit<E>(self) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("null"))
            }
            fn visit_none<E>(self) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("null"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SecretArg, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(SecretArg::NotText("an array"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SecretArg, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(SecretArg::NotText("an object"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for SecretArg {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretValue".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

impl SecretArg {
    fn into_secret(self) -> Result<SecretString, InputError> {
        match self {
            SecretArg::Text(v) => {
                validate::value(&v)?;
                Ok(v)
            }
            SecretArg::NotText(kind) => Err(InputError {
                field: "value",
                message: format!("must be a string, got {kind}"),
            }),
        }
    }
}

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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetArgs {
    /// The key to write: `user.` followed by a name of letters, digits, `.`, `-` and `_`, for example `user.stripe-api-key`. `system.*` keys cannot be written.
    pub key: String,
    /// The secret value. It is stored in OSC and never shown again by any tool.
    pub value: SecretArg,
    /// `upsert` (default) creates the key or replaces its value; `create` fails if the key already exists.
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// The `user.*` key to delete. `system.*` keys cannot be deleted.
    pub key: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterializeArgs {
    /// The tenant secret to copy: a `user.*` or `system.*` key from list_tenant_secrets.
    pub key: String,
    /// The id of the service instance that will use the secret, for example `eyevinn-my-service`.
    #[serde(rename = "serviceId")]
    pub service_id: String,
    /// The name the service refers to the secret by: lowercase letters and digits, for example `apikey`. The reference becomes `{{secrets.<secretName>}}`.
    #[serde(rename = "secretName")]
    pub secret_name: String,
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

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOutput {
    /// The key that was deleted.
    pub key: String,
    /// True: OSC confirmed the delete.
    pub deleted: bool,
    /// Copies already materialized into services stay in place.
    pub note: String,
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
    /// False if OSC's answer held no reference and the documented `{{secrets.NAME}}` form was used.
    pub reference_from_osc: bool,
    /// One sentence on how to use the reference.
    pub instruction: String,
}

/// A plain non-negative integer: the `uint32` format schemars would add is
/// unknown to several clients' validators, which warn about it.
fn count_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "integer", "minimum": 0 })
}

/// The tool handler. Cheap to clone: every transport session gets a clone.
#[derive(Clone)]
pub struct SecretsServer {
    osc: Arc<OscClient>,
    tool_router: ToolRouter<SecretsServer>,
}

impl SecretsServer {
    pub fn new(osc: Arc<OscClient>) -> Self {
        SecretsServer {
            osc,
            tool_router: Self::tool_router(),
        }
    }

    /// The tools every server lists, in a stable order; needs no OSC client,
    /// so docs and the manifest are generated from it.
    pub fn tool_definitions() -> Vec<rmcp::model::Tool> {
        let mut tools = Self::tool_router().list_all();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }
}

#[tool_router]
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
            .map(validate::filter)
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
        let mode = match args.mode.as_deref().map(str::trim) {
            None | Some("") | Some("upsert") => Mode::Upsert,
            Some("create") => Mode::Create,
            Some(other) => {
                return Err(refused(InputError {
                    field: "mode",
                    message: format!(
                        "must be `upsert` (create or replace) or `create` (new keys only), got {}",
                        validate::quoted(other)
                    ),
                }));
            }
        };
        let value = args.value.into_secret().map_err(refused)?;
        let outcome = match mode {
            Mode::Upsert => self.osc.upsert(&key, &value).await,
            Mode::Create => self.osc.create(&key, &value).await,
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

    #[tool(
        title = "Delete a tenant secret",
        description = "Delete a `user.*` key from the tenant's OSC secrets. \
Copies already materialized into services stay in place; the services keep working with them. \
`system.*` keys belong to the platform and are refused. Returns the key, never a value.",
        annotations(
            title = "Delete a tenant secret",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn delete_tenant_secret(
        &self,
        Parameters(args): Parameters<DeleteArgs>,
    ) -> Result<Json<DeleteOutput>, String> {
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
        let service_id = validate::service_id(&args.service_id).map_err(refused)?;
        let secret_name = validate::secret_name(&args.secret_name).map_err(refused)?;
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
        tracing::info!(key = %key, service_id, secret_name, "tenant secret materialized");
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

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SecretsServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                    .with_title("OSC Secrets")
                    .with_description(env!("CARGO_PKG_DESCRIPTION")),
            )
            .with_instructions(INSTRUCTIONS)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Upsert,
    Create,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Upsert => "upsert",
            Mode::Create => "create",
        }
    }
}

/// What the failed call was doing, so the advice can be specific.
enum Op<'a> {
    List,
    Set { key: &'a Key, mode: Mode },
    Delete { key: &'a Key },
    Materialize { key: &'a Key, service_id: &'a str },
}

fn refused(e: InputError) -> String {
    tracing::info!(field = e.field, "input refused");
    format!("Refused before contacting OSC: {e}.")
}

/// Turns an upstream failure into a sentence that says what to do next.
fn advise(error: OscError, op: Op<'_>) -> String {
    tracing::warn!(error = %error, "osc request failed");
    let upstream = |detail: &str| {
        if detail.is_empty() {
            String::new()
        } else {
            format!(" OSC said: \"{detail}\".")
        }
    };
    match error {
        OscError::Unauthorized { .. } => "OSC rejected the personal access token (401): it is invalid or has expired. \
            Ask the operator to create a new token in the OSC web console (Settings, API) and restart this server with it in OSC_ACCESS_TOKEN. \
            Retrying will not help."
            .to_owned(),
        OscError::Forbidden { detail } => format!(
            "OSC refused the request (403): the token is not allowed to do this{}.{} \
             `system.*` keys can only be materialized; if this is a `user.*` key, check the token's permissions.",
            match op {
                Op::List => " (list keys)".to_owned(),
                Op::Set { key, .. } | Op::Delete { key } | Op::Materialize { key, .. } => format!(" on `{key}`"),
            },
            upstream(&detail)
        ),
        OscError::NotFound { detail } => match op {
            Op::Delete { key } => format!(
                "`{key}` does not exist, so there is nothing to delete.{} Call list_tenant_secrets to see which keys exist.",
                upstream(&detail)
            ),
            Op::Materialize { key, service_id } => format!(
                "OSC found no tenant secret `{key}` (or no service `{service_id}`).{} \
                 Call list_tenant_secrets to see which keys exist, and check the service id.",
                upstream(&detail)
            ),
            Op::List | Op::Set { .. } => format!(
                "OSC answered 404 Not Found.{} Check OSC_API_URL or OSC_ENVIRONMENT points at the OSC API.",
                upstream(&detail)
            ),
        },
        OscError::Conflict { detail } => match op {
            Op::Set { key, mode: Mode::Create } => format!(
                "`{key}` already exists, and mode `create` never overwrites.{} \
                 To replace its value, call set_tenant_secret again with mode `upsert`; to keep it, choose another key.",
                upstream(&detail)
            ),
            _ => format!("OSC reported a conflict (409).{} Call list_tenant_secrets and try again.", upstream(&detail)),
        },
        OscError::BadRequest { status, detail } => format!(
            "OSC rejected the request as invalid ({status}).{} Check the arguments against the tool's description.",
            upstream(&detail)
        ),
        OscError::RateLimited { retry_after, attempts } => match retry_after {
            Some(wait) => format!(
                "OSC is rate limiting requests (429, after {attempts} attempt(s)). Retry after {} s.",
                wait.as_secs().max(1)
            ),
            None => format!(
                "OSC is rate limiting requests (429, after {attempts} attempt(s)). Wait a little, then retry."
            ),
        },
        OscError::Unavailable { status, attempts, detail } => format!(
            "OSC is unavailable ({status}) after {attempts} attempt(s).{} {}",
            upstream(&detail),
            unsure(&op)
        ),
        OscError::Timeout { attempts } => format!(
            "OSC did not answer in time after {attempts} attempt(s). {}",
            unsure(&op)
        ),
        OscError::Unreachable { attempts } => format!(
            "OSC could not be reached after {attempts} attempt(s): check the network and OSC_API_URL or OSC_ENVIRONMENT, then retry."
        ),
        OscError::Unexpected { status, detail } => format!(
            "OSC answered with an unexpected status {status}.{} {}",
            upstream(&detail),
            unsure(&op)
        ),
        OscError::Decode { what } => format!(
            "OSC answered, but {what}. {}",
            unsure(&op)
        ),
        OscError::Setup { what } => format!("The server could not make the request: {what}. Ask the operator to check its configuration."),
    }
}

/// After an ambiguous failure, a write may or may not have happened.
fn unsure(op: &Op<'_>) -> String {
    match op {
        Op::List => "Retry in a moment.".to_owned(),
        Op::Set { key, .. } => format!(
            "The value of `{key}` may or may not have been stored: call list_tenant_secrets to check its updatedAt, then retry with mode `upsert` if needed."
        ),
        Op::Delete { key } => format!(
            "`{key}` may or may not have been deleted: call list_tenant_secrets to check, then retry."
        ),
        Op::Materialize { .. } => "The service secret may or may not have been written: retry; materializing again is safe.".to_owned(),
    }
}
