//! `set_tenant_secret`: store a value under a `user.*` key.

use rmcp::RoleServer;
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::model::{CallToolResponse, CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::report::{ValueReport, serialize_mode};
use super::{Toolkit, structured};
use crate::advice::{Failure, Op, advise, refused};
use crate::ask_user::flow::{Asking, Pending};
use crate::ask_user::links::Job;
use crate::domain::{Key, SecretArg, WriteMode};
use crate::osc::{OscClient, WriteOutcome};
use crate::values::{GenerateArgs, Origin, Resolved, Sources};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetArgs {
    /// `user.` then letters, digits, `.-_`, e.g. `user.stripe-api-key`.
    pub key: String,
    /// A human types it; you never see it.
    #[serde(default, rename = "askUser")]
    #[schemars(extend("const" = true))]
    pub ask_user: Option<bool>,
    /// Best for new credentials: random, seen by nobody. `{}` for defaults.
    #[serde(default)]
    pub generate: Option<GenerateArgs>,
    /// Only one you already hold.
    #[serde(default)]
    pub value: Option<SecretArg>,
    /// An allowed environment variable.
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
    #[serde(flatten)]
    pub report: ValueReport,
    // `upsert` or `create`.
    #[serde(serialize_with = "serialize_mode")]
    #[schemars(with = "String")]
    pub mode: WriteMode,
    // `created` or `written`; absent while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub outcome: Option<Stored>,
}

/// Whether the write made the key or replaced its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stored {
    Created,
    Written,
}

impl From<WriteOutcome> for Stored {
    fn from(outcome: WriteOutcome) -> Self {
        match outcome {
            WriteOutcome::Created => Stored::Created,
            WriteOutcome::Written => Stored::Written,
        }
    }
}

#[tool_router(router = set_router, vis = "pub(crate)")]
impl Toolkit {
    #[tool(
        title = "Set a tenant secret",
        input_schema = super::input_schema::<SetArgs>(),
        output_schema = rmcp::handler::server::tool::schema_for_output::<SetOutput>(),
        description = "Store a value under a `user.*` key from one source; never returns it. \
rotate_tenant_secret also updates services.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn set_tenant_secret(
        &self,
        arguments: JsonObject,
        RequestState(request_state): RequestState,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, Failure> {
        let args: SetArgs = super::parse("set_tenant_secret", &arguments)?;
        let key = Key::parse(&args.key)
            .and_then(|k| k.writable("write"))
            .map_err(refused)?;
        let mode = args.mode.map_or(WriteMode::Upsert, WriteMode::from);
        let resolved = Sources {
            value: args.value,
            generate: args.generate,
            from_env: args.from_env,
            ask_user: args.ask_user,
        }
        .resolve(&self.env, false)?;
        let (value, origin) = match resolved {
            Resolved::Ready(value, origin) => (value, origin),
            Resolved::AskUser => {
                let call = Asking {
                    tool: "set_tenant_secret",
                    key: &key,
                    mode,
                    arguments: &arguments,
                    context: &context,
                    request_state,
                    responses,
                };
                return self
                    .ask_user(call, serde_json::Value::Null, None, |link| {
                        SetOutput::pending(&key, mode, link)
                    })
                    .await;
            }
        };
        write(&self.osc, &key, mode, &value, &origin)
            .await
            .map(|output| structured(&output).into())
    }
}

/// A one-time link's write: the value the human typed, under the link's
/// key and mode.
pub(super) async fn asked(
    osc: &OscClient,
    job: &Job,
    value: &SecretString,
) -> Result<CallToolResult, Failure> {
    // A sealed record only this server made names the key; its rules are
    // checked again all the same.
    let key = job.key.clone().writable("write").map_err(refused)?;
    write(osc, &key, job.mode, value, &Origin::Asked)
        .await
        .map(|output| structured(&output))
}

/// Writes `value` under `key` and says how it went.
async fn write(
    osc: &OscClient,
    key: &Key,
    mode: WriteMode,
    value: &SecretString,
    origin: &Origin,
) -> Result<SetOutput, Failure> {
    let outcome = match mode {
        WriteMode::Upsert => osc.upsert(key, value).await,
        WriteMode::Create => osc.create(key, value).await,
    }
    .map_err(|e| advise(e, Op::Set { key, mode }))?;
    tracing::info!(key = %key, mode = mode.as_str(), source = origin.argument(), "tenant secret written");
    Ok(SetOutput {
        report: ValueReport::written(
            key,
            origin,
            format!(
                "To use it in a service, call materialize_tenant_secret with key `{key}`. \
                 Services that already use this key keep their old copy until you materialize it again for each of them."
            ),
        ),
        mode,
        outcome: Some(outcome.into()),
    })
}

impl SetOutput {
    /// The result of an askUser call whose link was handed to the agent.
    fn pending(key: &Key, mode: WriteMode, link: Pending) -> SetOutput {
        let next_step = format!(
            "Nothing is written yet. Show the human this link and ask them to type the value there, not in the chat: {} \
             (one use, until {}). The page writes `{key}` on its own; afterwards call list_tenant_secrets and check that \
             `{key}` has a new updatedAt. Do not ask for the value yourself.",
            link.url, link.expires_at
        );
        SetOutput {
            report: ValueReport::pending(key, link, next_step),
            mode,
            outcome: None,
        }
    }
}
