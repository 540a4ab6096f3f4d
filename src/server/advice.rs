//! What the model is told to do next after each failure: one sentence per
//! OscError and operation, written in the server's own words.

use crate::domain::{InputError, Key, WriteMode};
use crate::osc::OscError;

/// What the failed call was doing, so the advice can be specific.
pub(crate) enum Op<'a> {
    List,
    Set { key: &'a Key, mode: WriteMode },
    Delete { key: &'a Key },
    Materialize { key: &'a Key, service_id: &'a str },
}

/// The answer to a broken input rule: one sentence, or a few, ending in
/// exactly one period whatever the rule's own text ends with.
pub(crate) fn refused(e: InputError) -> String {
    tracing::info!(field = e.field, "input refused");
    let said = e.to_string();
    format!(
        "Refused before contacting OSC: {}.",
        said.trim_end_matches('.')
    )
}

/// Turns an upstream failure into a sentence that says what to do next.
pub(crate) fn advise(error: OscError, op: Op<'_>) -> String {
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
            Op::Set { key, mode: WriteMode::Create } => format!(
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
