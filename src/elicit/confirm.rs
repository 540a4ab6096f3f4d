//! Confirmation of what cannot be undone: a delete, and a write that
//! replaces an existing key, go ahead only after the human typed the key.
//!
//! One step of `call_tool`, after the guardrails and the rate limits and
//! before the tool runs, so every transport behaves the same:
//! - `--confirm never`, a tool or mode that replaces nothing (`create`), a
//!   call with `askUser: true` (the human submits a page that says the key
//!   will be replaced), or an argument the tool will refuse anyway: no
//!   question, no extra request.
//! - Otherwise, when the client can be asked (or `--confirm always`), one
//!   `GET /mytenantsecrets` says whether the key exists; a key that does not
//!   exist is neither deleted nor replaced, so the call goes ahead.
//! - Session era: `elicitation/create` in form mode, awaited in the call.
//!   Retry era: an `InputRequiredResult` with the form and a sealed state;
//!   the retry is checked (state, then answer) and, confirmed, goes on
//!   without `requestState` and `inputResponses`.
//!
//! The form cannot say "equal to the key", so the server compares: the typed
//! text, trimmed of surrounding whitespace, must equal the key exactly. What
//! was typed is never repeated back: it could be anything.

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ElicitRequestParams, ElicitationAction,
    ElicitationSchema, JsonObject, StringSchema,
};
use rmcp::service::RequestContext;
use serde_json::Value;

use super::reach::{Caller, Era, Reach};
use super::request::{Answer, form_request, input_required, read_answer};
use super::state::{Binding, SealError, States};
use crate::advice::{Op, advise};
use crate::domain::Rule;
use crate::domain::tool::{self, Confirms};
use crate::domain::{Key, Owner};
use crate::osc::OscClient;
use crate::policy::ConfirmMode;

/// What the tool reference says about confirmation, and what it costs.
pub const DOC: &str = "\
`delete_tenant_secret`, and `set_tenant_secret` (mode `upsert`) or `rotate_tenant_secret` on a key that exists, \
ask the human to confirm by typing the key in a form: `elicitation/create` (form mode) on a 2025-11-25 session, \
an `InputRequiredResult` with the form and a sealed `requestState` for a 2026-07-28 client, which retries with the answer. \
Declined, dismissed or mistyped, the call is a tool error and nothing is changed. \
OSC requests: a call that can ask first lists the keys once (`GET /mytenantsecrets`) to learn whether the key exists, \
then makes its usual requests if confirmed (or if the key does not exist); the retry-era retry makes no second check. \
No extra request is made with `--confirm never`, with `--confirm auto` when the client cannot be asked, \
for `create`, for `askUser: true`, or for `system.*` keys. \
Settings: `--confirm auto|always|never` ([configuration.md](configuration.md#guardrails)); limits: [security.md](security.md#confirmation).";

/// The name of the form among the `inputRequests`, and its one field.
const FORM: &str = "confirm";
const FIELD: &str = "key";
pub const PURPOSE: &str = "confirm";
/// How long a human has to answer, in either era.
const ANSWER_TIME: Duration = Duration::from_secs(600);

/// What `call_tool` does next.
pub enum Step {
    /// Run the tool with this request (stripped of a redeemed state).
    Proceed(CallToolRequestParams),
    /// Answer with this (an `InputRequiredResult`): the question.
    Ask(CallToolResponse),
    /// A tool error: nothing was changed. The rule names the audit record.
    Refuse(Rule, String),
}

/// What a call would do that cannot be undone.
#[derive(Clone, Copy)]
enum Act {
    Delete,
    Replace,
}

/// The key a call would delete or replace, if it is one that asks: a valid
/// `user.*` key (the tool refuses anything else in its own words), not
/// `create`, not `askUser: true`.
fn at_stake(tool: &str, arguments: Option<&JsonObject>) -> Option<(Act, Key)> {
    let arguments = arguments?;
    let act = match tool::entry(tool)?.confirms {
        Confirms::Never => return None,
        Confirms::Always => Act::Delete,
        Confirms::WhenReplacing => match arguments.get("mode") {
            None | Some(Value::Null) => Act::Replace,
            Some(Value::String(m)) if m == "upsert" => Act::Replace,
            Some(_) => return None,
        },
    };
    // Only a real `askUser: true` skips: `false` or `null` with another
    // source must not escape the question.
    if arguments.get("askUser") == Some(&Value::Bool(true)) {
        return None;
    }
    let key = Key::check(arguments.get("key")?.as_str()?).ok()?;
    (key.owner() == Owner::User).then_some((act, key))
}

/// What the confirmation step of a call works with.
pub struct Confirmer<'a> {
    /// Seals and opens the retry era's questions; `None`: nobody can be
    /// asked in that era.
    pub states: Option<&'a States>,
    /// Asked whether the key exists before the human is.
    pub osc: &'a OscClient,
    pub mode: ConfirmMode,
}

/// The confirmation step of one `tools/call`.
pub async fn step(
    with: Confirmer<'_>,
    mut request: CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Step {
    let Confirmer { states, osc, mode } = with;
    if mode == ConfirmMode::Never {
        return Step::Proceed(request);
    }
    let Some((act, key)) = at_stake(&request.name, request.arguments.as_ref()) else {
        return Step::Proceed(request);
    };
    // A retry of a question asked before: its state and answer decide.
    if let Some(echoed) = request.request_state.take() {
        let caller = Caller::of(context);
        let binding = Binding {
            tool: &request.name,
            key: key.as_str(),
            purpose: PURPOSE,
            arguments: request.arguments.as_ref(),
            caller: Some(&caller),
        };
        let states = match states {
            Some(states) => states,
            None => return unavailable(mode, &request).unwrap_or(Step::Proceed(request)),
        };
        if let Err(refused) = states.open::<u8>(&echoed, &binding).await {
            return Step::Refuse(Rule::ConfirmState, refused.to_string());
        }
        let answer = read_answer(request.input_responses.as_ref(), FORM);
        request.input_responses = None;
        return judge(answer, act, &key).map_or(Step::Proceed(request), |(rule, message)| {
            Step::Refuse(rule, message)
        });
    }
    let reach = Reach::of(context);
    let can_ask = reach.form && (reach.era == Era::Session || states.is_some());
    if !can_ask && mode == ConfirmMode::Auto {
        return Step::Proceed(request);
    }
    // Does the key exist? Only then is there something to lose.
    match osc.list().await {
        Ok(listing) if !listing.entries.iter().any(|e| e.key == key) => {
            return Step::Proceed(request);
        }
        Ok(_) => {}
        Err(e) => {
            let advice = advise(e, Op::List).text;
            return Step::Refuse(
                Rule::ConfirmCheck,
                format!(
                    "Nothing was changed: before asking the user to confirm, the server checks whether `{key}` exists, and that check failed. {advice}"
                ),
            );
        }
    }
    if !can_ask {
        return unavailable(mode, &request).unwrap_or(Step::Proceed(request));
    }
    let message = question(act, &key, &request.name);
    match reach.era {
        Era::Session => in_session(request, context, message, act, &key).await,
        Era::Retry => by_retry(states, mode, request, message, &key, &Caller::of(context)).await,
    }
}

/// Session era: the form as `elicitation/create`, awaited in the call.
async fn in_session(
    request: CallToolRequestParams,
    context: &RequestContext<RoleServer>,
    message: String,
    act: Act,
    key: &Key,
) -> Step {
    let asked = context
        .peer
        .create_elicitation_with_timeout(
            ElicitRequestParams::FormElicitationParams {
                meta: None,
                message,
                requested_schema: schema(key),
            },
            Some(ANSWER_TIME),
        )
        .await;
    let answer = match asked {
        Ok(result) => match result.action {
            ElicitationAction::Accept => match result.content {
                Some(Value::Object(content)) => Answer::Accepted(content),
                None | Some(Value::Null) => Answer::Accepted(JsonObject::new()),
                Some(_) => Answer::Malformed,
            },
            ElicitationAction::Decline => Answer::Declined,
            ElicitationAction::Cancel => Answer::Cancelled,
            _ => Answer::Malformed,
        },
        Err(_) => {
            tracing::info!(tool = %request.name, "confirmation could not be asked");
            return Step::Refuse(
                Rule::ConfirmUnavailable,
                format!(
                    "Not confirmed: the confirmation form got no answer (it timed out or the client could not show it), so `{key}` was not changed. \
                     Call the tool again when the user is there to type the key."
                ),
            );
        }
    };
    judge(answer, act, key).map_or(Step::Proceed(request), |(rule, message)| {
        Step::Refuse(rule, message)
    })
}

/// Retry era: an `InputRequiredResult` with the form and a sealed state.
async fn by_retry(
    states: Option<&States>,
    mode: ConfirmMode,
    request: CallToolRequestParams,
    message: String,
    key: &Key,
    caller: &Caller,
) -> Step {
    let binding = Binding {
        tool: &request.name,
        key: key.as_str(),
        purpose: PURPOSE,
        arguments: request.arguments.as_ref(),
        caller: Some(caller),
    };
    let sealed = match states {
        Some(states) => Some(states.seal(&binding, &1u8, ANSWER_TIME).await),
        None => None,
    };
    match sealed {
        Some(Ok(state)) => Step::Ask(CallToolResponse::InputRequired(input_required(
            [(FORM.to_owned(), form_request(message, schema(key)))],
            state,
        ))),
        // The human must be asked and the question cannot be remembered:
        // refused, never done unasked.
        Some(Err(SealError::Store(e))) => Step::Refuse(
            Rule::StateStore,
            format!(
                "Not done: a human must confirm this, and {e}, so the question cannot be asked and nothing was changed. \
                 Retry in a minute; if it goes on, ask the operator to check the state store."
            ),
        ),
        Some(Err(SealError::NoRandomness(_))) | None => {
            unavailable(mode, &request).unwrap_or(Step::Proceed(request))
        }
    }
}

/// The client cannot be asked: `always` refuses, `auto` goes ahead.
fn unavailable(mode: ConfirmMode, request: &CallToolRequestParams) -> Option<Step> {
    (mode == ConfirmMode::Always).then(|| {
        tracing::info!(tool = %request.name, "confirmation required but the client cannot be asked");
        Step::Refuse(Rule::ConfirmUnavailable,
            "Not done: this server's operator requires a human to confirm deletes and writes that replace an existing key (--confirm always), \
             and this client cannot show the confirmation form (it does not support form elicitation), so nothing was changed. \
             Use a client with form elicitation, or ask the operator to do it or to change --confirm."
                .to_owned(),
        )
    })
}

fn question(act: Act, key: &Key, tool: &str) -> String {
    match act {
        Act::Delete => format!(
            "An agent asks to delete the tenant secret `{key}` ({tool}). This cannot be undone. Type the key to confirm."
        ),
        Act::Replace => format!(
            "An agent asks to replace the value of the existing tenant secret `{key}` ({tool}). The old value is lost. Type the key to confirm."
        ),
    }
}

/// The form: one required text field, whose example is the very key to
/// type (an example of another key would invite typing that one).
fn schema(key: &Key) -> ElicitationSchema {
    ElicitationSchema::builder()
        .required_string_property(FIELD, |s: StringSchema| {
            s.title("Type the key to confirm")
                .description(format!("Type {key} exactly"))
        })
        .build_unchecked()
}

/// `None`: confirmed. Otherwise the audit rule and the tool error.
fn judge(answer: Answer, act: Act, key: &Key) -> Option<(Rule, String)> {
    let what = match act {
        Act::Delete => "deleting",
        Act::Replace => "replacing",
    };
    let (rule, why) = match answer {
        Answer::Accepted(content) => {
            // ASCII whitespace only: a no-break space, or any other
            // character that looks like nothing, is a mismatch.
            let typed = content
                .get(FIELD)
                .and_then(Value::as_str)
                .map(|t| t.trim_matches(|c: char| c.is_ascii_whitespace()));
            if typed == Some(key.as_str()) {
                return None;
            }
            (
                Rule::ConfirmMismatch,
                format!("the text the user typed did not match the key `{key}`"),
            )
        }
        Answer::Declined => (
            Rule::ConfirmDeclined,
            format!("the user declined {what} `{key}`"),
        ),
        Answer::Cancelled => (
            Rule::ConfirmDeclined,
            format!("the user dismissed the confirmation of {what} `{key}`"),
        ),
        Answer::Missing | Answer::Malformed => (
            Rule::ConfirmMissing,
            "the retry carried no usable answer to the confirmation form".to_owned(),
        ),
    };
    tracing::info!(rule = rule.name(), "confirmation refused");
    Some((
        rule,
        format!(
            "Not confirmed: {why}, so nothing was changed. \
             Do not retry on your own; if the user still wants it, call the tool again and ask them to type the key exactly."
        ),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn stake(tool: &str, args: Value) -> Option<&'static str> {
        at_stake(tool, args.as_object()).map(|(act, _)| match act {
            Act::Delete => "delete",
            Act::Replace => "replace",
        })
    }

    /// The form's description names the key the human must type, and no
    /// other key.
    #[test]
    fn the_form_names_the_key_to_type() {
        let key = Key::parse("user.db").unwrap();
        let form = serde_json::to_value(schema(&key)).unwrap();
        let said = form["properties"][FIELD]["description"].as_str().unwrap();
        assert_eq!(said, "Type user.db exactly");
    }

    #[test]
    fn only_deletes_and_replacing_writes_are_at_stake() {
        let k = json!({"key": "user.a"});
        assert_eq!(stake("delete_tenant_secret", k.clone()), Some("delete"));
        assert_eq!(stake("set_tenant_secret", k.clone()), Some("replace"));
        assert_eq!(
            stake(
                "set_tenant_secret",
                json!({"key": "user.a", "mode": "upsert"})
            ),
            Some("replace")
        );
        assert_eq!(stake("rotate_tenant_secret", k.clone()), Some("replace"));
        // Never asked: create, askUser, other tools, system keys, bad keys.
        assert_eq!(
            stake(
                "set_tenant_secret",
                json!({"key": "user.a", "mode": "create"})
            ),
            None
        );
        assert_eq!(
            stake(
                "set_tenant_secret",
                json!({"key": "user.a", "askUser": true})
            ),
            None
        );
        assert_eq!(
            stake(
                "rotate_tenant_secret",
                json!({"key": "user.a", "askUser": true})
            ),
            None
        );
        // askUser off, or anything but `true`, is still asked about.
        for off in [json!(false), json!(null), json!("true"), json!({})] {
            assert_eq!(
                stake(
                    "set_tenant_secret",
                    json!({"key": "user.a", "askUser": off, "generate": {}})
                ),
                Some("replace"),
                "{off}"
            );
        }
        assert_eq!(stake("materialize_tenant_secret", k.clone()), None);
        assert_eq!(stake("list_tenant_secrets", k), None);
        assert_eq!(
            stake("delete_tenant_secret", json!({"key": "system.a"})),
            None
        );
        assert_eq!(stake("delete_tenant_secret", json!({"key": "nope"})), None);
        assert_eq!(stake("delete_tenant_secret", json!({"key": 7})), None);
        assert_eq!(stake("delete_tenant_secret", json!({})), None);
    }

    #[test]
    fn the_typed_key_is_trimmed_of_whitespace_only() {
        let key = Key::check("user.db").unwrap();
        let typed = |t: Value| {
            let mut content = JsonObject::new();
            content.insert(FIELD.to_owned(), t);
            judge(Answer::Accepted(content), Act::Delete, &key).map(|(rule, _)| rule.name())
        };
        assert_eq!(typed(json!("user.db")), None);
        assert_eq!(typed(json!(" \tuser.db\n")), None);
        for lookalike in ["\u{a0}user.db", "user.db\u{2002}", "\u{3000}user.db\u{a0}"] {
            assert_eq!(
                typed(json!(lookalike)),
                Some("confirm_mismatch"),
                "{lookalike:?}"
            );
        }
        for wrong in [
            json!("user.DB"),
            json!("`user.db`"),
            json!("user.db."),
            json!("user. db"),
            json!(""),
            json!(7),
            json!(null),
        ] {
            assert_eq!(typed(wrong.clone()), Some("confirm_mismatch"), "{wrong}");
        }
        let (rule, said) = judge(Answer::Accepted(JsonObject::new()), Act::Delete, &key).unwrap();
        assert_eq!(rule.name(), "confirm_mismatch");
        assert!(said.contains("did not match"), "{said}");
        assert_eq!(
            judge(Answer::Declined, Act::Replace, &key)
                .unwrap()
                .0
                .name(),
            "confirm_declined"
        );
        assert_eq!(
            judge(Answer::Cancelled, Act::Replace, &key)
                .unwrap()
                .0
                .name(),
            "confirm_declined"
        );
        assert_eq!(
            judge(Answer::Missing, Act::Replace, &key).unwrap().0.name(),
            "confirm_missing"
        );
        assert_eq!(
            judge(Answer::Malformed, Act::Replace, &key)
                .unwrap()
                .0
                .name(),
            "confirm_missing"
        );
    }
}
