//! `rotate_tenant_secret`: replace a `user.*` key's value and materialize the
//! new value into every service that uses it, in one call.

use futures::StreamExt;
use rmcp::RoleServer;
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::model::{CallToolResponse, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::report::ValueReport;
use super::{Toolkit, structured};
use crate::advice::{Failure, Op, advise, refused};
use crate::ask_user::flow::{Asking, Pending};
use crate::audit::Outcome;
use crate::domain::{self, Key, SecretArg, WriteMode};
use crate::osc::{OscClient, OscError};
use crate::values::{GenerateArgs, Origin, Resolved, Sources};

/// Most targets of one rotation.
pub const MAX_TARGETS: usize = 64;
/// Most materialize requests in flight at once.
pub const FAN_OUT: usize = 8;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateArgs {
    /// A `user.*` key, e.g. `user.db-password`.
    pub key: String,
    /// Service secrets using the key.
    #[schemars(length(min = 1, max = 64))]
    pub targets: Vec<Target>,
    /// A human types it; you never see it.
    #[serde(default, rename = "askUser")]
    #[schemars(extend("const" = true))]
    pub ask_user: Option<bool>,
    /// The default source.
    #[serde(default)]
    pub generate: Option<GenerateArgs>,
    /// Only a value you already have.
    #[serde(default)]
    pub value: Option<SecretArg>,
    /// An allowed environment variable.
    #[serde(default, rename = "fromEnv")]
    pub from_env: Option<String>,
}

// A service secret.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    // Id, for example `eyevinn-my-service`.
    #[serde(rename = "serviceId")]
    pub service_id: String,
    // a-z and 0-9, for example `dbpassword`.
    #[serde(rename = "secretName")]
    pub secret_name: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateOutput {
    #[serde(flatten)]
    pub report: ValueReport,
    // Every target, in order, with the new value; empty while pending.
    pub targets: Vec<TargetOutcome>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetOutcome {
    // The service.
    pub service_id: String,
    // Its secret.
    pub secret_name: String,
    /// The whole parameter value.
    pub reference: String,
}

/// A target, checked.
struct Checked {
    service_id: String,
    secret_name: String,
}

#[tool_router(router = rotate_router, vis = "pub(crate)")]
impl Toolkit {
    #[tool(
        title = "Rotate a tenant secret",
        input_schema = super::input_schema::<RotateArgs>(),
        output_schema = rmcp::handler::server::tool::schema_for_output::<RotateOutput>(),
        description = "New value for a `user.*` key, materialized into every target, never returned. \
Restart instances after.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn rotate_tenant_secret(
        &self,
        arguments: JsonObject,
        RequestState(request_state): RequestState,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, Failure> {
        let args: RotateArgs = super::parse("rotate_tenant_secret", &arguments)?;
        let key = Key::parse(&args.key)
            .and_then(|k| k.writable("rotate"))
            .map_err(refused)?;
        let targets = check_targets(&args.targets)?;
        let resolved = Sources {
            value: args.value,
            generate: args.generate,
            from_env: args.from_env,
            ask_user: args.ask_user,
        }
        .resolve(&self.env, true)?;
        let (value, origin) = match resolved {
            Resolved::Ready(value, origin) => (value, origin),
            Resolved::AskUser => {
                let osc = self.osc.clone();
                let asked = key.clone();
                let call = Asking {
                    tool: "rotate_tenant_secret",
                    key: &key,
                    mode: WriteMode::Upsert,
                    arguments: &arguments,
                    context: &context,
                    request_state,
                    responses,
                };
                return self
                    .ask_user(
                        call,
                        move |value| async move {
                            rotate(&osc, &asked, &targets, value, &Origin::Asked).await
                        },
                        |link| RotateOutput::pending(&key, link),
                    )
                    .await;
            }
        };
        rotate(&self.osc, &key, &targets, value, &origin)
            .await
            .map(|output| structured(&output).into())
    }
}

impl RotateOutput {
    /// The result of an askUser rotation whose link was handed to the agent.
    fn pending(key: &Key, link: Pending) -> RotateOutput {
        let next_step = format!(
            "Nothing is written yet. Show the human this link and ask them to type the new value there, not in the chat: {} \
             (one use, until {}). The page writes `{key}` and updates every target on its own; afterwards call \
             list_tenant_secrets and check that `{key}` has a new updatedAt, then restart each service instance. \
             Do not ask for the value yourself.",
            link.url, link.expires_at
        );
        RotateOutput {
            report: ValueReport::pending(key, link, next_step),
            targets: Vec::new(),
        }
    }
}

/// Writes `value` under `key`, then materializes it into every target.
async fn rotate(
    osc: &OscClient,
    key: &Key,
    targets: &[Checked],
    value: SecretString,
    origin: &Origin,
) -> Result<RotateOutput, Failure> {
    osc.upsert(key, &value).await.map_err(|e| {
        let held = if may_have_arrived(&e) {
            format!(
                "`{key}` may or may not hold a new value now, and no service was touched. \
                 To finish, call rotate_tenant_secret again with the same targets: it writes another new value and copies it into every target"
            )
        } else {
            format!("Nothing was rotated: `{key}` keeps its old value, and no service was touched")
        };
        let failure = advise(
            e,
            Op::Set {
                key,
                mode: WriteMode::Upsert,
            },
        );
        let text = format!("{} {held}.", failure.text);
        Failure { text, ..failure }
    })?;
    drop(value);
    let calls: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| materialize_one(osc, key, i, t))
        .collect();
    let mut outcomes: Vec<(usize, Result<String, OscError>)> = futures::stream::iter(calls)
        .buffer_unordered(FAN_OUT)
        .collect()
        .await;
    outcomes.sort_by_key(|(i, _)| *i);
    let failed = outcomes.iter().filter(|(_, r)| r.is_err()).count();
    tracing::info!(
        key = %key,
        source = origin.argument(),
        targets = targets.len(),
        failed,
        "tenant secret rotated"
    );
    if failed > 0 {
        return Err(partial(key, targets, outcomes));
    }
    let targets = targets
        .iter()
        .zip(outcomes)
        .filter_map(|(t, (_, r))| {
            r.ok().map(|reference| TargetOutcome {
                service_id: t.service_id.clone(),
                secret_name: t.secret_name.clone(),
                reference,
            })
        })
        .collect();
    Ok(RotateOutput {
        report: ValueReport::written(
            key,
            origin,
            "Every target now holds the new value. OSC resolves a reference when a service instance starts: \
             restart each of these service instances so they use the new value."
                .to_owned(),
        ),
        targets,
    })
}

async fn materialize_one(
    osc: &OscClient,
    key: &Key,
    index: usize,
    target: &Checked,
) -> (usize, Result<String, OscError>) {
    let done = osc
        .materialize(key, &target.service_id, &target.secret_name)
        .await;
    (index, done.map(|m| m.reference))
}

/// Checks every target with materialize's rules, and refuses duplicates.
fn check_targets(targets: &[Target]) -> Result<Vec<Checked>, Failure> {
    let refuse = |said: String| crate::advice::refusal(&said);
    if targets.is_empty() {
        return Err(refuse(
            "`targets` is empty: list each service secret that uses the key, for example \
             `\"targets\": [{\"serviceId\": \"eyevinn-my-service\", \"secretName\": \"dbpassword\"}]`. \
             To change only the key, use set_tenant_secret."
                .to_owned(),
        ));
    }
    if targets.len() > MAX_TARGETS {
        return Err(refuse(format!(
            "`targets` has {} entries; the limit is {MAX_TARGETS}. Rotate with the first {MAX_TARGETS}, \
             then call materialize_tenant_secret for the rest.",
            targets.len()
        )));
    }
    let mut checked: Vec<Checked> = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        let at = |e: domain::InputError| {
            refuse(format!(
                "`targets[{i}].{}`: {}.",
                e.field,
                e.message.trim_end_matches('.')
            ))
        };
        let service_id = domain::service_id(&t.service_id).map_err(at)?;
        let secret_name = domain::secret_name(&t.secret_name).map_err(at)?;
        if let Some(j) = checked
            .iter()
            .position(|c| c.service_id == service_id && c.secret_name == secret_name)
        {
            return Err(refuse(format!(
                "`targets[{i}]` repeats `targets[{j}]` (the same serviceId and secretName); list each target once."
            )));
        }
        checked.push(Checked {
            service_id: service_id.to_owned(),
            secret_name: secret_name.to_owned(),
        });
    }
    Ok(checked)
}

/// Whether a failed request may still have reached OSC: a refusal status,
/// a connection never made, or a request never built means it did not (the
/// client reports an earlier lost attempt as `Interrupted`, never as one of
/// these); a lost or unreadable answer, a timeout or a 5xx means it may have.
fn may_have_arrived(error: &OscError) -> bool {
    !matches!(
        error,
        OscError::Unauthorized
            | OscError::Forbidden
            | OscError::NotFound
            | OscError::Conflict
            | OscError::BadRequest { .. }
            | OscError::RateLimited { .. }
            | OscError::Unreachable { .. }
            | OscError::Setup { .. }
    )
}

/// The answer to a rotation some targets missed: which hold what, and how
/// to finish.
fn partial(
    key: &Key,
    targets: &[Checked],
    outcomes: Vec<(usize, Result<String, OscError>)>,
) -> Failure {
    let name = |t: &Checked| format!("`{}` secret `{}`", t.service_id, t.secret_name);
    // The record names how the last target failed.
    let mut recorded = Outcome::Error("tool");
    let mut updated = Vec::new();
    let mut old = Vec::new();
    let mut unknown = Vec::new();
    for (t, (_, outcome)) in targets.iter().zip(outcomes) {
        match outcome {
            Ok(reference) => updated.push(format!("{} (reference `{reference}`)", name(t))),
            Err(e) => {
                let arrived = may_have_arrived(&e);
                let why = advise(
                    e,
                    Op::Materialize {
                        key,
                        service_id: &t.service_id,
                    },
                );
                recorded = why.outcome;
                let line = format!("{}: {}", name(t), why.text);
                if arrived {
                    unknown.push(line);
                } else {
                    old.push(line);
                }
            }
        }
    }
    let list = |items: &[String]| items.join("; ");
    let mut message = format!(
        "Rotation of `{key}` is incomplete. `{key}` holds the new value, but not every target was updated."
    );
    if !updated.is_empty() {
        message.push_str(&format!(
            " Hold the new value ({}): {}.",
            updated.len(),
            list(&updated)
        ));
    }
    if !old.is_empty() {
        message.push_str(&format!(
            " Still hold the old value ({}): {}",
            old.len(),
            list(&old)
        ));
    }
    if !unknown.is_empty() {
        message.push_str(&format!(
            " May hold either value, the answer was lost ({}): {}",
            unknown.len(),
            list(&unknown)
        ));
    }
    message.push_str(&format!(
        " To finish, do not call rotate_tenant_secret again (that would make yet another value): call \
         materialize_tenant_secret with key `{key}` for each target that does not hold the new value. \
         OSC resolves a reference when a service instance starts, so restart each instance afterwards."
    ));
    Failure::new(recorded, message).with_key_written()
}
