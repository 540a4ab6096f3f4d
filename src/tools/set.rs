//! `set_tenant_secret`: store a value under a `user.*` key.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{Key, SecretArg, WriteMode};
use crate::osc::WriteOutcome;
use crate::server::SecretsServer;
use crate::server::advice::{Op, advise, refused};
use crate::values::{GenerateArgs, Origin, Sources};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetArgs {
    /// The key to write: `user.` followed by a name of letters, digits, `.`, `-` and `_`, for example `user.stripe-api-key`. `system.*` keys cannot be written.
    #[schemars(example = "user.stripe-api-key")]
    pub key: String,
    /// Have the server make the value with the operating system's secure random generator; nobody, you included, ever sees it. `{}` for 32 alphanumeric characters. The best choice for any credential nobody needs to know (passwords, API keys between services, signing secrets). Give exactly one of `generate`, `value` and `fromEnv`.
    #[serde(default)]
    pub generate: Option<GenerateArgs>,
    /// The secret value, as text. Only for a value you already have for another reason (for example a key a third party issued); to make a new credential, use `generate` instead. It is stored in OSC and never shown again by any tool.
    #[serde(default)]
    pub value: Option<SecretArg>,
    /// The name of an environment variable of this server whose content to store, for example `STRIPE_API_KEY`; you see the name, never the value. Only variables the operator allowed at start can be read.
    #[serde(default, rename = "fromEnv")]
    pub from_env: Option<String>,
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
    /// Where the value came from: `generate`, `value` or `fromEnv`.
    pub source: String,
    /// With `generate`: how the value was made (never the value itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<GeneratedInfo>,
    /// With `fromEnv`: the variable that was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// What to do next.
    pub next_step: String,
}

/// How a generated value was made.
#[derive(Serialize, JsonSchema)]
pub struct GeneratedInfo {
    /// Its number of characters.
    pub length: u32,
    /// Its alphabet: `alphanumeric`, `hex`, `base64url` or `symbols`.
    pub alphabet: String,
}

impl SetOutput {
    /// The source fields of an output, from where the value came from.
    pub(crate) fn describe(origin: &Origin) -> (String, Option<GeneratedInfo>, Option<String>) {
        (
            origin.argument().to_owned(),
            match origin {
                Origin::Generated(recipe) => Some(GeneratedInfo {
                    length: u32::try_from(recipe.length).unwrap_or(u32::MAX),
                    alphabet: recipe.alphabet.as_str().to_owned(),
                }),
                _ => None,
            },
            match origin {
                Origin::Env(name) => Some(name.clone()),
                _ => None,
            },
        )
    }
}

#[tool_router(router = set_router, vis = "pub(crate)")]
impl SecretsServer {
    #[tool(
        title = "Set a tenant secret",
        description = "Store a secret under a `user.*` key in the tenant's OSC secrets. Give exactly one source of the value: \
`generate` (for example `{}`): the server makes a strong random value that nobody, you included, ever sees; use it for every credential nobody needs to know. \
`value`: only for a value you already have for another reason, such as a key a third party issued. \
`fromEnv`: the name of an environment variable of this server that the operator allowed. \
`mode` `upsert` (default) creates or replaces; `create` refuses to overwrite an existing key. \
Returns the key, the outcome and the source, never the value. The value cannot be read back by any tool. \
To replace a key's value and update the services that use it in one call, use rotate_tenant_secret; after a set, services keep their old copy until you call materialize_tenant_secret again for each of them. \
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
        let (value, origin) = Sources {
            value: args.value,
            generate: args.generate,
            from_env: args.from_env,
        }
        .resolve(&self.env, false)?;
        let outcome = match mode {
            WriteMode::Upsert => self.osc.upsert(&key, &value).await,
            WriteMode::Create => self.osc.create(&key, &value).await,
        }
        .map_err(|e| advise(e, Op::Set { key: &key, mode }))?;
        tracing::info!(key = %key, mode = mode.as_str(), source = origin.argument(), "tenant secret written");
        let (source, generated, from_env) = SetOutput::describe(&origin);
        Ok(Json(SetOutput {
            key: key.to_string(),
            mode: mode.as_str().to_owned(),
            outcome: match outcome {
                WriteOutcome::Created => "created",
                WriteOutcome::Written => "written",
            }
            .to_owned(),
            source,
            generated,
            from_env,
            next_step: format!(
                "To use it in a service, call materialize_tenant_secret with key `{key}`. \
                 Services that already use this key keep their old copy until you materialize it again for each of them."
            ),
        }))
    }
}
