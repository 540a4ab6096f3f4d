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
use crate::ask_user::links::Job;
use crate::audit::{self, Outcome};
use crate::domain::{self, Key, Rule, SecretArg, WriteMode};
use crate::osc::{OscClient, OscError};
use crate::store::{Placement, Store};
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
    /// Service secrets; omit for the ledger's.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub targets: Option<Vec<Target>>,
    /// Allow a new key.
    #[serde(default)]
    #[schemars(extend("const" = true))]
    pub create: Option<bool>,
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
#[derive(Clone)]
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
        let (targets, ledger) = match &args.targets {
            Some(given) => (check_targets(given)?, None),
            None => (
                self.ledger_targets(&key).await?,
                Some(LEDGER_NOTE.to_owned()),
            ),
        };
        audit::note_targets(
            targets
                .iter()
                .map(|t| (t.service_id.clone(), t.secret_name.clone()))
                .collect(),
        );
        let by = super::caller(&context);
        let resolved = Sources {
            value: args.value,
            generate: args.generate,
            from_env: args.from_env,
            ask_user: args.ask_user,
        }
        .resolve(&self.env, true)?;
        // Checked after the arguments, before anything is written or asked;
        // a retry carrying a requestState continues a round that checked
        // (the state is bound to these very arguments).
        let exists = if args.create != Some(true) && request_state.is_none() {
            self.must_exist(&key).await?;
            Some(true)
        } else {
            None
        };
        let (value, origin) = match resolved {
            Resolved::Ready(value, origin) => (value, origin),
            Resolved::AskUser => {
                let work = Work {
                    targets: targets
                        .iter()
                        .map(|t| (t.service_id.clone(), t.secret_name.clone()))
                        .collect(),
                    from_ledger: ledger.is_some(),
                    by: by.clone(),
                };
                let call = Asking {
                    tool: "rotate_tenant_secret",
                    key: &key,
                    mode: WriteMode::Upsert,
                    arguments: &arguments,
                    context: &context,
                    request_state,
                    responses,
                };
                let work = serde_json::to_value(work).unwrap_or_default();
                return self
                    .ask_user(call, work, exists, |link| RotateOutput::pending(&key, link))
                    .await;
            }
        };
        let to = Rotation {
            osc: &self.osc,
            store: &self.store,
            key: &key,
            targets: &targets,
            by: &by,
        };
        rotate(to, value, &origin)
            .await
            .map(|output| structured(&output.with_ledger_note(ledger)).into())
    }
}

/// A rotation's own part of a one-time link's job.
#[derive(Serialize, Deserialize)]
struct Work {
    /// (serviceId, secretName) of each target.
    targets: Vec<(String, String)>,
    /// The targets came from the ledger: the result says so.
    from_ledger: bool,
    /// Who asked, for the ledger.
    by: String,
}

/// A one-time link's rotation: the value the human typed, into the
/// targets the link was opened with (checked again, as any input).
pub(super) async fn asked(
    osc: &OscClient,
    store: &Store,
    job: &Job,
    value: SecretString,
) -> Result<rmcp::model::CallToolResult, Failure> {
    let key = job.key.clone().writable("rotate").map_err(refused)?;
    let work: Work = serde_json::from_value(job.work.clone()).map_err(|_| {
        Failure::tool(
            "The one-time link's targets cannot be read by this server, so nothing was rotated. Ask for a new link."
                .to_owned(),
        )
    })?;
    let given: Vec<Target> = work
        .targets
        .into_iter()
        .map(|(service_id, secret_name)| Target {
            service_id,
            secret_name,
        })
        .collect();
    let targets = check_targets(&given)?;
    let to = Rotation {
        osc,
        store,
        key: &key,
        targets: &targets,
        by: &work.by,
    };
    let note = work.from_ledger.then(|| LEDGER_NOTE.to_owned());
    rotate(to, value, &Origin::Asked)
        .await
        .map(|output| structured(&output.with_ledger_note(note)))
}

/// What every rotation result that took its targets from the ledger says.
const LEDGER_NOTE: &str = "The targets came from this server's ledger of materializations, which knows only what this server did: \
     a service given the key another way was not updated.";

impl Toolkit {
    /// The targets of a rotation that named none: every service secret the
    /// ledger knows `key` was materialized into.
    async fn ledger_targets(&self, key: &Key) -> Result<Vec<Checked>, Failure> {
        let placements = self.store.placements(key).await.map_err(|e| {
            Failure::refused(
                Rule::StateStore,
                format!(
                    "`targets` was omitted, so the targets were to come from this server's ledger, but {e}; nothing was rotated. \
                     Retry in a minute, or name the targets in `targets`."
                ),
            )
        })?;
        if placements.is_empty() {
            return Err(crate::advice::refusal(&format!(
                "`targets` was omitted and this server's ledger knows of no service that `{key}` was materialized into \
                 (it knows only what this server did), so nothing was rotated. Name the service secrets that use the key, \
                 for example `\"targets\": [{{\"serviceId\": \"eyevinn-my-service\", \"secretName\": \"dbpassword\"}}]`; \
                 to change only the key, use set_tenant_secret."
            )));
        }
        if placements.len() > MAX_TARGETS {
            return Err(crate::advice::refusal(&format!(
                "this server's ledger knows {} service secrets holding `{key}`; one rotation reaches at most {MAX_TARGETS}. \
                 Read osc://tenant-secrets/{key}/materializations, rotate with the first {MAX_TARGETS} in `targets`, \
                 then call materialize_tenant_secret for the rest.",
                placements.len()
            )));
        }
        Ok(placements
            .into_iter()
            .map(|p| Checked {
                service_id: p.service_id,
                secret_name: p.secret_name,
            })
            .collect())
    }

    /// Refuses to rotate a key that does not exist: a rotation replaces,
    /// and creates only when the call says `"create": true`.
    async fn must_exist(&self, key: &Key) -> Result<(), Failure> {
        let listing = self.osc.list().await.map_err(|e| {
            let failure = advise(e, Op::List);
            let text = format!(
                "{} Whether `{key}` exists could not be checked, so nothing was rotated.",
                failure.text
            );
            Failure { text, ..failure }
        })?;
        if listing.entries.iter().any(|e| e.key == *key) {
            return Ok(());
        }
        // OSC was asked (the list), so not "refused before contacting OSC".
        Err(Failure::refused(
            Rule::Input,
            format!(
                "Not rotated: `{key}` does not exist in OSC, so nothing was rotated and nothing was created. Check the name with \
                 list_tenant_secrets; to create the key and copy it into the targets in one call, call rotate_tenant_secret \
                 again with `\"create\": true`."
            ),
        ))
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

    /// Says first, when the targets came from the ledger, that they did.
    fn with_ledger_note(mut self, note: Option<String>) -> RotateOutput {
        if let Some(note) = note {
            self.report.next_step = format!("{note} {}", self.report.next_step);
        }
        self
    }
}

/// Where a rotation goes: the key, its targets, and who asked.
struct Rotation<'a> {
    osc: &'a OscClient,
    store: &'a Store,
    key: &'a Key,
    targets: &'a [Checked],
    by: &'a str,
}

/// Writes `value` under `key`, then materializes it into every target.
async fn rotate(
    to: Rotation<'_>,
    value: SecretString,
    origin: &Origin,
) -> Result<RotateOutput, Failure> {
    let Rotation {
        osc,
        store,
        key,
        targets,
        by,
    } = to;
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
    // Every target that took the new value is recorded (again) in the
    // ledger; a ledger that cannot be written changes no outcome, and the
    // first failure ends the recording (a store that does not answer
    // would otherwise cost its deadline once per target).
    for (t, (_, outcome)) in targets.iter().zip(&outcomes) {
        if outcome.is_ok()
            && let Err(e) = store
                .place(&Placement::now(key, &t.service_id, &t.secret_name, by))
                .await
        {
            tracing::warn!(error = %e, "a rotation's targets were not all recorded in the ledger");
            break;
        }
    }
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
             `\"targets\": [{\"serviceId\": \"eyevinn-my-service\", \"secretName\": \"dbpassword\"}]`, \
             or leave `targets` out to rotate into every service this server's ledger knows. \
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
