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
    /// `user.` and letters, digits, `.-_`, for example `user.stripe-api-key`.
    pub key: String,
    /// Best for new credentials: random, seen by nobody. `{}` for defaults.
    #[serde(default)]
    pub generate: Option<GenerateArgs>,
    /// Only one you already have, such as a third party's key.
    #[serde(default)]
    pub value: Option<SecretArg>,
    /// An allowed environment variable, for example `STRIPE_API_KEY`.
    #[serde(default, rename = "fromEnv")]
    pub from_env: Option<String>,
    /// `create` fails if the key exists (default `upsert`).
    #[serde(default)]
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
    // The key written.
    pub key: String,
    // `upsert` or `create`.
    pub mode: String,
    /// `created` or `written`.
    pub outcome: String,
    // `generate`, `value` or `fromEnv`.
    pub source: String,
    // With `generate`: how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<GeneratedInfo>,
    // With `fromEnv`: the variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    // What to do next.
    pub next_step: String,
}

// How a generated value was made.
#[derive(Serialize, JsonSchema)]
pub struct GeneratedInfo {
    // Characters.
    pub length: u32,
    // Alphabet.
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
        description = "Store a value under a `user.*` key from one source; the value is never returned. \
rotate_tenant_secret also updates services.",
        annotations(idempotent_hint = true)
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
