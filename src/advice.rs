//! The sentences every tool shares: what the model is told after a broken
//! input rule, and what to do next after each OSC failure, one sentence per
//! OscError and operation, written in the server's own words. Below the
//! tools, value sources and elicitation, which all speak them.
//!
//! A [`Failure`] pairs the sentence with the outcome the call's audit record
//! names. Writing a sentence records nothing: the outcome is a field, set
//! where the failure is made, and handed on where the failure becomes the
//! tool's result.

use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};

use crate::audit::{self, Outcome};
use crate::domain::Rule;
use crate::domain::{InputError, Key, WriteMode};
use crate::osc::OscError;

/// A tool call that failed: what the model is told, and what the audit
/// record says of it.
#[derive(Debug)]
pub struct Failure {
    pub outcome: Outcome,
    pub text: String,
    /// What became of the key: the one-time page's title says it first.
    pub key: KeyAfter,
}

/// What a failed call left the key holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAfter {
    /// Its old value (or nothing, if it did not exist).
    Unchanged,
    /// The new value all the same: a rotation that missed a target.
    Written,
    /// Either: the request may have reached OSC and the answer was lost.
    Unknown,
}

impl Failure {
    pub fn new(outcome: Outcome, text: impl Into<String>) -> Self {
        Failure {
            outcome,
            text: text.into(),
            key: KeyAfter::Unchanged,
        }
    }

    /// Refused by `rule`, before (or instead of) contacting OSC.
    pub fn refused(rule: Rule, text: impl Into<String>) -> Self {
        Failure::new(Outcome::Refused(rule), text)
    }

    /// The call failed, but the key was stored.
    pub fn with_key_written(mut self) -> Self {
        self.key = KeyAfter::Written;
        self
    }

    /// A failure of the tool's own making (no rule, no OSC error).
    pub fn tool(text: impl Into<String>) -> Self {
        Failure::new(Outcome::Error("tool"), text)
    }
}

/// Where a failure leaves the tool: rmcp's router turns it into the error
/// result, and its outcome goes to the call's audit record (the router sits
/// between the tool and the handler, so it travels in the call's scope).
impl IntoCallToolResult for Failure {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        audit::note(self.outcome);
        Ok(CallToolResult::error(vec![ContentBlock::text(self.text)]).into())
    }
}

/// How every refusal made before any OSC request begins.
pub(crate) const REFUSED: &str = "Refused before contacting OSC:";

/// Under `--audit-required`, the record that must come before a change
/// could not be written: the change was not sent.
pub(crate) fn audit_unwritable() -> String {
    "Not done: this server must record every change in its audit log before making it (--audit-required), \
     and the audit log cannot be written now, so nothing was changed. Ask the operator to check the audit log \
     (the server's stderr says why), then retry."
        .to_owned()
}

/// Added to the result of a call that ran after its write-ahead record but
/// whose outcome could not be recorded.
pub(crate) const OUTCOME_UNRECORDED: &str = "Note: this call ran, but its outcome could not be written to the \
     audit log this server's operator requires (--audit-required); the log holds only the record that it was \
     attempted, and the operator is told on stderr. What the result above says is what happened: do not repeat \
     the call because of this.";

/// The arguments of `tool` do not fit its input schema: what the model is
/// told, never the parser's own words (they can quote what arrived).
pub(crate) fn schema_mismatch(tool: &str) -> String {
    format!(
        "{REFUSED} the arguments do not match the input schema of {tool}. \
         Compare them with the tool's inputSchema from tools/list and call it again."
    )
}

/// What the failed call was doing, so the advice can be specific.
pub(crate) enum Op<'a> {
    List,
    Set { key: &'a Key, mode: WriteMode },
    Delete { key: &'a Key },
    Materialize { key: &'a Key, service_id: &'a str },
}

/// The answer to a broken input rule: one sentence, or a few, ending in
/// exactly one period whatever the rule's own text ends with.
pub(crate) fn refused(e: InputError) -> Failure {
    tracing::info!(field = e.field, "input refused");
    refusal(&e.to_string())
}

/// A refusal by an input rule, in the rule's own words.
pub(crate) fn refusal(said: &str) -> Failure {
    Failure::refused(
        Rule::Input,
        format!("{REFUSED} {}.", said.trim_end_matches('.')),
    )
}

/// Turns an upstream failure into a sentence that says what to do next.
/// Nothing OSC said is in it: the status and the kind of failure are enough,
/// and OSC's text could echo a value.
pub(crate) fn advise(error: OscError, op: Op<'_>) -> Failure {
    tracing::warn!(error = %error, "osc request failed");
    let outcome = Outcome::Error(audit::error_kind(&error));
    let key = if may_have_happened(&error) {
        KeyAfter::Unknown
    } else {
        KeyAfter::Unchanged
    };
    Failure {
        key,
        ..Failure::new(outcome, sentence(error, op))
    }
}

/// Whether a request that failed this way may still have been applied:
/// the advice then says "may or may not", and so does the page.
fn may_have_happened(error: &OscError) -> bool {
    matches!(
        error,
        OscError::Unavailable { .. }
            | OscError::Timeout { .. }
            | OscError::Deadline { .. }
            | OscError::Interrupted { .. }
            | OscError::Unexpected { .. }
            | OscError::TooLarge { .. }
            | OscError::Decode { .. }
    )
}

/// The sentence of [`advise`], for a caller that tells it as part of its own.
fn sentence(error: OscError, op: Op<'_>) -> String {
    match error {
        OscError::Unauthorized => "OSC rejected the personal access token (401): it is invalid or has expired. \
            Ask the operator to create a new token in the OSC web console (Settings, API) and restart this server with it in OSC_ACCESS_TOKEN. \
            Retrying will not help."
            .to_owned(),
        OscError::Forbidden => format!(
            "OSC refused the request (403): the token is not allowed to do this{}. \
             `system.*` keys can only be materialized; if this is a `user.*` key, check the token's permissions.",
            match op {
                Op::List => " (list keys)".to_owned(),
                Op::Set { key, .. } | Op::Delete { key } | Op::Materialize { key, .. } => format!(" on `{key}`"),
            },
        ),
        OscError::NotFound => match op {
            Op::Delete { key } => format!(
                "`{key}` does not exist, so there is nothing to delete. Call list_tenant_secrets to see which keys exist."
            ),
            Op::Materialize { key, service_id } => format!(
                "OSC found no tenant secret `{key}` (or no service `{service_id}`). \
                 Call list_tenant_secrets to see which keys exist, and check the service id."
            ),
            Op::List | Op::Set { .. } => "OSC answered 404 Not Found. Check OSC_API_URL or OSC_ENVIRONMENT points at the OSC API.".to_owned(),
        },
        OscError::Conflict => match op {
            Op::Set { key, mode: WriteMode::Create } => format!(
                "`{key}` already exists, and mode `create` never overwrites it. \
                 To replace its value, call set_tenant_secret again with mode `upsert`; to keep it, choose another key."
            ),
            Op::List => "OSC reported a conflict (409) while listing keys. Retry in a moment.".to_owned(),
            Op::Set { key, .. } | Op::Delete { key } | Op::Materialize { key, .. } => format!(
                "OSC reported a conflict (409) on `{key}`: another change to it may be in progress. \
                 Call list_tenant_secrets to see whether `{key}` exists, then retry."
            ),
        },
        OscError::BadRequest { status } => format!(
            "OSC rejected the request as invalid ({status}). Check the arguments against the tool's description."
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
        OscError::Unavailable { status, attempts, retry_after } => format!(
            "OSC is unavailable ({status}) after {attempts} attempt(s){}. {}",
            retry_after.map_or_else(String::new, |wait| format!(
                "; it asked for {} s before the next try",
                wait.as_secs()
            )),
            unsure(&op)
        ),
        OscError::Timeout { attempts } => format!(
            "OSC did not answer in time after {attempts} attempt(s). {}",
            unsure(&op)
        ),
        OscError::Deadline { attempts, deadline } => format!(
            "OSC did not finish answering within this call's deadline of {} s ({attempts} attempt(s)). {}",
            deadline.as_secs(),
            unsure(&op)
        ),
        OscError::Interrupted { attempts } => format!(
            "The connection to OSC broke after the request may have reached it, or OSC answered with something that is not HTTP ({attempts} attempt(s)). {}",
            unsure(&op)
        ),
        OscError::Unreachable { attempts } => format!(
            "OSC could not be reached after {attempts} attempt(s): check the network and OSC_API_URL or OSC_ENVIRONMENT, then retry."
        ),
        OscError::Unexpected { status } => format!(
            "OSC answered with an unexpected status {status}. {}",
            unsure(&op)
        ),
        OscError::TooLarge { limit } => match op {
            Op::List => format!(
                "OSC's key list is larger than the {limit} bytes this server reads from one answer, so it was not read. \
                 Filtering with `prefix` or `contains` will not help, since the whole list is read first: \
                 ask the operator to raise OSC_MAX_ANSWER_BYTES."
            ),
            _ => format!(
                "OSC's answer is larger than the {limit} bytes this server reads from one answer. {}",
                unsure(&op)
            ),
        },
        OscError::Decode { what } => format!(
            "OSC answered, but {what}. {}",
            unsure(&op)
        ),
        OscError::Setup { what } => format!("The server could not make the request: {what}. Ask the operator to check its configuration."),
    }
}

/// After an ambiguous failure (the request may have reached OSC), a write
/// may or may not have happened: say how to find out.
fn unsure(op: &Op<'_>) -> String {
    match op {
        Op::List => "Retry in a moment.".to_owned(),
        Op::Set { key, .. } => format!(
            "The value of `{key}` may or may not have been stored: call list_tenant_secrets to check its update time, then retry with mode `upsert` if needed."
        ),
        Op::Delete { key } => format!(
            "`{key}` may or may not have been deleted: call list_tenant_secrets to check, then retry."
        ),
        Op::Materialize { .. } => "The service secret may or may not have been written: retry; materializing again is safe.".to_owned(),
    }
}
