//! `askUser`: the human types a value on a one-time page, out of the
//! model's sight. Shared by set_tenant_secret and rotate_tenant_secret,
//! which hand over what to run with the value; this module decides how
//! the human is reached, by what the client can do ([`Reach::of`]):
//!
//! - Session era with URL elicitation: `elicitation/create` (mode `url`),
//!   then the call waits for the page, up to the link's expiry, and
//!   returns the job's own result after `notifications/elicitation/complete`.
//! - Retry era with URL elicitation: an `InputRequiredResult` with the URL
//!   and a sealed `requestState` naming the link; each retry waits a while
//!   for the page, and answers with a fresh state-only `InputRequiredResult`
//!   while the page is still unused.
//! - Any other client: unless the operator turned it off
//!   (`--ask-user-fallback off`), a `pending` result with the link for the
//!   agent to show; the page completes the write on its own.
//!
//! The value exists only inside the job the page runs; nothing here ever
//! holds it.

use std::sync::Arc;
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, ElicitationAction, InputResponses, JsonObject,
};
use rmcp::service::RequestContext;
use rmcp::{Peer, model::ServerRequest};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::asker::Asker;
use super::links::{BoxFuture, Fate, Job, LinkError, Links, Settled, Ticket};
use crate::advice::{Failure, KeyAfter};
use crate::audit::{self, AuditLog, Outcome};
use crate::domain::Rule;
use crate::domain::{Key, WriteMode, rfc3339};
use crate::elicit::{
    Answer, Binding, Caller, Era, Reach, input_required, notify_complete, read_answer, unguessable,
    url_request,
};

/// The purpose a sealed askUser state is bound to.
pub const PURPOSE: &str = "askUser";
/// The name of the URL request inside an `InputRequiredResult`.
pub const REQUEST: &str = "askUser";

/// What a tool's write with the typed value came to: its whole result, and
/// whether the key now holds the value (a rotation can store the key and
/// still miss a target).
pub struct Ran {
    pub result: CallToolResult,
    pub key: KeyAfter,
}

/// One askUser call, as the tool received it.
pub(crate) struct Asking<'a> {
    pub tool: &'static str,
    pub key: &'a Key,
    pub mode: WriteMode,
    /// The call's arguments, which a sealed state is bound to.
    pub arguments: &'a JsonObject,
    pub context: &'a RequestContext<RoleServer>,
    pub request_state: Option<String>,
    pub responses: Option<InputResponses>,
}

/// A link the agent is to show the human.
pub(crate) struct Pending {
    pub url: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// What a sealed askUser state carries: the link's id. Signed, readable by
/// the client: the id is in the URL the client was given anyway.
#[derive(Serialize, Deserialize)]
struct Sealed {
    link: String,
}

/// Has the human type the value for `call`, in whichever way its client
/// allows, through `links` (what [`ready`] gave for it); `work` is the
/// tool's own part of the link's job (what its worker needs besides key
/// and mode), and `pending` makes the tool's result for a link handed to
/// the agent.
pub(crate) async fn ask(
    ask: &Asker,
    links: &Links,
    call: Asking<'_>,
    exists: Option<bool>,
    work: serde_json::Value,
    pending: impl FnOnce(Pending) -> CallToolResult,
) -> Result<CallToolResponse, Failure> {
    let key = call.key;
    // With OAuth, `ready` made sure the page signs the person in.
    let person = audit::identity(&call.context.extensions).is_some();
    let reach = Reach::of(call.context);
    if call.request_state.is_some() {
        return retried(ask, links, call).await;
    }
    if !reach.url {
        if !ask.settings().fallback {
            return Err(Failure::refused(
                Rule::AskUserFallback,
                format!(
                    "askUser is not available to this client: it cannot show a one-time page (no URL elicitation), \
                 and this server's operator turned off handing the link to you (--ask-user-fallback off), \
                 so nothing was written to `{key}`. Use `\"generate\": {{}}` for a credential nobody needs to know, \
                 or ask the operator to store the value."
                ),
            ));
        }
        // A link that passed through the model proves no human: under
        // --confirm always it may not replace a key (or one that may
        // exist: the check failed), unless the page signs the person in
        // (OAuth), which proves the one who asked.
        if ask.confirm_always()
            && !person
            && call.mode == WriteMode::Upsert
            && exists != Some(false)
        {
            tracing::info!(key = %key, tool = call.tool, "askUser link refused: --confirm always");
            return Err(Failure::refused(
                Rule::ConfirmUnavailable,
                format!(
                    "Not done: this server's operator requires a human to confirm writes that replace an existing key \
                     (--confirm always), and a link handed to you proves no human (whoever holds it can use it), so no \
                     link was opened and nothing was written to `{key}`. Use a client that shows the page itself (URL \
                     elicitation) or asks in a form, or ask the operator."
                ),
            ));
        }
        // Nobody awaits this link's fate: the page's write gets its own
        // audit record, with the call that opened the link.
        let ticket = open(links, &call, exists, work, Audited::Yes).await?;
        tracing::info!(key = %key, tool = call.tool, "askUser link handed to the agent");
        audit::note(Outcome::Pending);
        return Ok(pending(Pending {
            url: ticket.url,
            expires_at: rfc3339(ticket.expires_at),
        })
        .into());
    }
    match reach.era {
        Era::Session => session(ask, links, call, exists, work).await,
        Era::Retry => {
            // The client may never come back for the result: the page's
            // write gets its own record, as on the pending path.
            let ticket = open(links, &call, exists, work, Audited::Yes).await?;
            let state = match seal(ask, &call, &ticket.id, links.ttl()).await {
                Ok(state) => state,
                // The link was never shown to anyone: withdrawn, so that
                // "nothing was written" stays true.
                Err(why) => {
                    let _ = links.decline(&ticket.id).await;
                    return Err(Failure::tool(format!(
                        "{why}, so nothing was written to `{key}`. Retry in a moment."
                    )));
                }
            };
            tracing::info!(key = %key, tool = call.tool, "askUser link sent as an input request");
            audit::note(Outcome::Pending);
            Ok(input_required(
                [(REQUEST.to_owned(), url_request(message(key), ticket.url))],
                state,
            )
            .into())
        }
    }
}

/// The links askUser can open for `call`, or why it cannot be used at all:
/// no page, or, with OAuth, a page that cannot sign the person in. Checked
/// before anything else, OSC included.
pub(crate) fn ready<'a>(ask: &'a Asker, call: &Asking<'_>) -> Result<&'a Arc<Links>, Failure> {
    let key = call.key;
    let Some(links) = ask.links() else {
        return Err(Failure::refused(
            Rule::NoPage,
            format!(
                "askUser is not available: this server cannot serve the one-time page the human would type the value on, \
             so nothing was written to `{key}`. Use `\"generate\": {{}}` for a credential nobody needs to know, \
             or ask the operator to store the value."
            ),
        ));
    };
    // With OAuth the page must prove the person: a link for a subject is
    // opened only where the page can sign that subject in.
    let person = audit::identity(&call.context.extensions).is_some();
    if person && links.sign_in().is_none() {
        return Err(Failure::refused(
            Rule::NoPage,
            format!(
                "askUser is not available: with OAuth the one-time page must sign the person in before it writes, \
                 and this server's operator has not registered the page with the authorization server \
                 (--oauth-page-client-id), so nothing was written to `{key}`. Use `\"generate\": {{}}` for a \
                 credential nobody needs to know, or ask the operator to set up the page's sign-in."
            ),
        ));
    }
    Ok(links)
}

/// Whether the page's write gets an audit record of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audited {
    /// Nobody may await the link's fate (a link handed to the agent, or a
    /// retry-era client that may never come back): the page's write is
    /// recorded with the call that opened the link.
    Yes,
    /// The call waits for the page and is recorded itself.
    No,
}

/// Runs a claimed link's job, on whichever replica serves its page:
/// `write` does the tool's write (and what follows) with the value; the
/// audit log records it when the job says so (under `--audit-required`,
/// only after its write-ahead record was written: the page's write happens
/// long after the call's own record); the page's title and text say what
/// came of the key.
pub async fn run_job(
    log: Option<Arc<AuditLog>>,
    job: Job,
    value: SecretString,
    write: impl FnOnce(Job, SecretString) -> BoxFuture<Ran>,
) -> Settled {
    let key = job.key.clone();
    let record = job.audit.clone().filter(|_| log.is_some());
    let (Some(log), Some(record)) = (log, record) else {
        let ran = write(job, value).await;
        return settled(&key, ran);
    };
    let started = std::time::Instant::now();
    let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let ahead = log.required();
    if ahead && !log.write_ahead(&record, elapsed()) {
        drop(value);
        log.write(&audit::Record {
            call: &record,
            outcome: Outcome::Refused(Rule::AuditRequired),
            duration_ms: elapsed(),
        });
        tracing::info!(key = %key, "askUser page write refused: the audit log cannot be written");
        let ran = Ran {
            result: CallToolResult::error(vec![ContentBlock::text(
                crate::advice::audit_unwritable(),
            )]),
            key: KeyAfter::Unchanged,
        };
        return settled(&key, ran);
    }
    let mut ran = write(job, value).await;
    let outcome = if ran.result.is_error == Some(true) {
        Outcome::Error("tool")
    } else {
        Outcome::Ok
    };
    let recorded = log.write(&audit::Record {
        call: &record,
        outcome,
        duration_ms: elapsed(),
    });
    if ahead && !recorded {
        log.unrecorded(&record);
        ran.result
            .content
            .push(ContentBlock::text(crate::advice::OUTCOME_UNRECORDED));
    }
    settled(&key, ran)
}

/// A job's outcome with what the page says of it.
fn settled(key: &Key, ran: Ran) -> Settled {
    let (title, page_text) = page_text(key, &ran);
    Settled {
        result: ran.result,
        title: title.to_owned(),
        page_text,
    }
}

/// What the human is told next to the link.
fn message(key: &Key) -> String {
    format!(
        "Type the value for `{key}` on this one-time page, not in the chat. \
         It goes straight to OSC; the assistant never sees it."
    )
}

/// Opens the link whose job is the tool's `work` for this call.
async fn open(
    links: &Links,
    call: &Asking<'_>,
    exists: Option<bool>,
    work: serde_json::Value,
    audited: Audited,
) -> Result<Ticket, Failure> {
    let job = Job {
        tool: call.tool.to_owned(),
        key: call.key.clone(),
        mode: call.mode,
        exists,
        client: Caller::of(call.context).counted_as,
        work,
        audit: (audited == Audited::Yes)
            .then(|| audit::Call::read(call.tool, "write", Some(call.arguments), call.context)),
        subject: audit::identity(&call.context.extensions).map(|i| i.subject.to_string()),
    };
    links.open(job).await.map_err(|e| {
        tracing::warn!(error = %e, "no askUser link could be opened");
        let why = match e {
            LinkError::TooMany | LinkError::TooManyForClient(_) => e.to_string(),
            LinkError::NoPage(_) | LinkError::NoRandomness(_) => {
                "the one-time page cannot be served right now; retry in a moment, or use `\"generate\": {}`".to_owned()
            }
            LinkError::Store(e) => format!("{e}; retry in a minute, or use `\"generate\": {{}}`"),
        };
        Failure::tool(format!(
            "askUser could not open a one-time page, so nothing was written to `{}`: {why}.",
            call.key
        ))
    })
}

/// What the page says once the job ran: plain text, never the value.
/// The title and first sentence say what happened to the key, then what
/// happened to anything else.
fn page_text(key: &Key, ran: &Ran) -> (&'static str, String) {
    let why = || {
        ran.result
            .content
            .iter()
            .find_map(|c| c.as_text().map(|t| t.text.clone()))
            .unwrap_or_default()
    };
    match (ran.result.is_error == Some(true), ran.key) {
        (false, _) => (
            "Done",
            format!(
                "Done: {key} now holds the value you typed. You can close this page and go back to the assistant."
            ),
        ),
        (true, KeyAfter::Written) => (
            "Stored, not everywhere",
            format!(
                "{key} now holds the value you typed, but not every service was updated. {}",
                why()
            ),
        ),
        (true, KeyAfter::Unknown) => (
            "Outcome not known",
            format!(
                "Whether {key} now holds the value you typed is not known: the answer from Open Source Cloud was lost. {}",
                why()
            ),
        ),
        (true, KeyAfter::Unchanged) => (
            "Not stored",
            format!("The value was not stored in {key}. {}", why()),
        ),
    }
}

/// Session era: `elicitation/create` with the URL, then wait for the page.
async fn session(
    ask: &Asker,
    links: &Links,
    call: Asking<'_>,
    exists: Option<bool>,
    work: serde_json::Value,
) -> Result<CallToolResponse, Failure> {
    let key = call.key;
    let ticket = open(links, &call, exists, work, Audited::No).await?;
    let url = match reqwest::Url::parse(&ticket.url) {
        Ok(url) => url,
        Err(_) => {
            let _ = links.decline(&ticket.id).await;
            return Err(Failure::tool(format!(
                "askUser could not make a valid link for the one-time page, so nothing was written to `{key}`. \
                 Ask the operator to check the public URL setting."
            )));
        }
    };
    let elicitation = match unguessable(16) {
        Ok(id) => id,
        Err(e) => {
            let _ = links.decline(&ticket.id).await;
            return Err(Failure::tool(format!(
                "{e}, so nothing was written to `{key}`. Retry in a moment."
            )));
        }
    };
    let peer = call.context.peer.clone();
    let ttl = links.ttl();
    tracing::info!(key = %key, tool = call.tool, "askUser link sent as a URL elicitation");
    let ping = ask.settings().session_ping;
    let asked = peer.elicit_url_with_timeout(message(key), url, elicitation.clone(), Some(ttl));
    let waited = wait(links, &ticket.id, ttl, &peer, ping);
    tokio::pin!(waited);
    let answered = async {
        tokio::select! {
            answer = asked => match answer {
                Ok(ElicitationAction::Accept) => waited.await,
                Ok(_) => withdraw(links, &ticket.id, &peer, ping, TakeBack::Declined).await,
                // The error's text can quote what the client sent (its error
                // message, its malformed answer): only its kind is logged.
                Err(e) => {
                    let kind = match e {
                        rmcp::service::ElicitationError::Service(_) => "the request failed",
                        rmcp::service::ElicitationError::ParseError { .. } => "a malformed answer",
                        _ => "no usable answer",
                    };
                    tracing::info!(kind, "the URL elicitation got no answer");
                    withdraw(links, &ticket.id, &peer, ping, TakeBack::Declined).await
                }
            },
            // The page was used before the client answered.
            fate = &mut waited => fate,
        }
    };
    // A cancelled call (`notifications/cancelled`) takes its link back:
    // nobody awaits what the page would write.
    let fate = tokio::select! {
        fate = answered => fate,
        () = call.context.ct.cancelled() => {
            tracing::info!(key = %key, tool = call.tool, "askUser call cancelled; its link is withdrawn");
            withdraw(links, &ticket.id, &peer, None, TakeBack::Cancelled).await
        }
    };
    if matches!(fate, Fate::Done(_)) {
        notify_complete(&peer, &elicitation).await;
    }
    settle(key, fate)
}

/// Waits up to `within` for the link's fate, pinging `peer` every `ping`
/// meanwhile.
async fn wait(
    links: &Links,
    id: &str,
    within: Duration,
    peer: &Peer<RoleServer>,
    ping: Option<Duration>,
) -> Fate {
    let Some(every) = ping else {
        return links.wait(id, within).await;
    };
    let until = tokio::time::Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let fate = links.wait(id, every.min(left)).await;
        if !matches!(fate, Fate::Pending) || left <= every {
            return fate;
        }
        let ping = ServerRequest::PingRequest(Default::default());
        if peer.send_request(ping).await.is_err() {
            tracing::debug!("the keep-alive ping got no answer");
        }
    }
}

/// Why a link is taken back before the page used it.
#[derive(Clone, Copy)]
enum TakeBack {
    /// The human declined (or the client could not show the page).
    Declined,
    /// The client cancelled the call.
    Cancelled,
}

/// Takes the link back: unused, it is declined or withdrawn; already being
/// used, its fate is awaited (the write is under way and gets recorded).
async fn withdraw(
    links: &Links,
    id: &str,
    peer: &Peer<RoleServer>,
    ping: Option<Duration>,
    why: TakeBack,
) -> Fate {
    let taken = match why {
        TakeBack::Declined => links.decline(id).await.map(|()| Fate::Declined),
        TakeBack::Cancelled => links.withdraw(id).await.map(|()| Fate::Withdrawn),
    };
    match taken {
        Ok(fate) => fate,
        Err(Fate::Pending) => wait(links, id, links.ttl(), peer, ping).await,
        Err(fate) => fate,
    }
}

/// The tool's answer for a settled link.
fn settle(key: &Key, fate: Fate) -> Result<CallToolResponse, Failure> {
    match fate {
        Fate::Done(settled) => Ok(settled.result.into()),
        Fate::Declined => Err(Failure::new(
            Outcome::Declined,
            format!(
                "The human declined to type the value for `{key}`, so nothing was written. \
                 Ask them how they want to proceed before trying again."
            ),
        )),
        Fate::Withdrawn => Err(Failure::new(
            Outcome::Cancelled,
            format!(
                "The call was cancelled, so the one-time page for `{key}` was withdrawn and nothing was written. \
                 Call the tool again with `\"askUser\": true` for a new link if the value is still needed."
            ),
        )),
        Fate::Expired => Err(Failure::new(
            Outcome::Expired,
            format!(
                "The one-time page for `{key}` expired before the human used it, so nothing was written. \
                 Call the tool again with `\"askUser\": true` for a new link."
            ),
        )),
        Fate::Pending => Err(Failure::new(
            Outcome::Expired,
            format!(
                "The one-time page for `{key}` was submitted just as it expired, and the write has not finished. \
                 Call list_tenant_secrets to see whether `{key}` changed before trying again."
            ),
        )),
        Fate::Unreachable => Err(Failure::new(
            Outcome::Pending,
            format!(
                "The server's state store cannot be reached, so whether the one-time page for `{key}` was used cannot be \
                 told now. The link may still be open: if the human submits it before it expires, `{key}` is written. \
                 Call list_tenant_secrets later and check whether `{key}` has a new updatedAt before asking again."
            ),
        )),
        Fate::Unknown => Err(Failure::new(
            Outcome::Expired,
            format!(
                "The one-time page for `{key}` is no longer known to this server, so nothing can be said of it. \
                 Call list_tenant_secrets to see whether `{key}` changed, or call the tool again with `\"askUser\": true`."
            ),
        )),
    }
}

fn binding<'a>(call: &'a Asking<'_>, key: &'a str, caller: &'a Caller) -> Binding<'a> {
    Binding {
        tool: call.tool,
        key,
        purpose: PURPOSE,
        arguments: Some(call.arguments),
        caller: Some(caller),
    }
}

async fn seal(ask: &Asker, call: &Asking<'_>, link: &str, ttl: Duration) -> Result<String, String> {
    let states = ask.states().map_err(|e| e.to_string())?;
    states
        .seal(
            &binding(call, call.key.as_str(), &Caller::of(call.context)),
            &Sealed {
                link: link.to_owned(),
            },
            ttl,
        )
        .await
        .map_err(|e| e.to_string())
}

/// Retry era, a retry: open the state, read the answer, wait for the page.
async fn retried(
    ask: &Asker,
    links: &Links,
    call: Asking<'_>,
) -> Result<CallToolResponse, Failure> {
    let key = call.key;
    let echoed = call.request_state.as_deref().unwrap_or_default();
    let caller = Caller::of(call.context);
    let sealed: Sealed = ask
        .states()
        .map_err(|e| {
            Failure::tool(format!(
                "{e}, so nothing was written to `{key}`. Retry in a moment."
            ))
        })?
        .open(echoed, &binding(&call, key.as_str(), &caller))
        .await
        .map_err(|refused| {
            tracing::info!(key = %key, "askUser requestState refused");
            Failure::refused(Rule::RequestState, refused.to_string())
        })?;
    let peer = &call.context.peer;
    let fate = match read_answer(call.responses.as_ref(), REQUEST) {
        Answer::Declined | Answer::Cancelled => {
            withdraw(links, &sealed.link, peer, None, TakeBack::Declined).await
        }
        Answer::Malformed => {
            let _ = links.decline(&sealed.link).await;
            return Err(Failure::refused(
                Rule::InputResponses,
                format!(
                    "The answer to the `{REQUEST}` input request is not an elicitation result, so the link was withdrawn \
                 and nothing was written to `{key}`. Call the tool again without requestState."
                ),
            ));
        }
        Answer::Accepted(_) | Answer::Missing => {
            // A cancelled retry takes the link back, as in the session era.
            tracing::debug!(key = %key, tool = call.tool, "askUser retry waits for the page");
            let waited = tokio::select! {
                fate = links.wait(&sealed.link, ask.settings().retry_wait) => fate,
                () = call.context.ct.cancelled() => {
                    tracing::info!(key = %key, tool = call.tool, "askUser retry cancelled; its link is withdrawn");
                    withdraw(links, &sealed.link, peer, None, TakeBack::Cancelled).await
                }
            };
            match waited {
                Fate::Pending | Fate::Unreachable => {
                    // The human holds the link: it stays live, and the
                    // agent is told so, never that nothing will happen.
                    let state = seal(ask, &call, &sealed.link, links.ttl())
                        .await
                        .map_err(|why| {
                            Failure::new(
                                Outcome::Pending,
                                format!(
                                    "{why}, so this call cannot wait for the page any longer. The one-time link is still open: \
                                     if the human submits it before it expires, the page writes `{key}` on its own. \
                                     Call list_tenant_secrets later and check whether `{key}` has a new updatedAt."
                                ),
                            )
                        })?;
                    audit::note(Outcome::Pending);
                    return Ok(input_required([], state).into());
                }
                fate => fate,
            }
        }
    };
    settle(key, fate)
}
