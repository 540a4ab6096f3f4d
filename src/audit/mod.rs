//! The audit log (`--audit-log`): one hash-chained JSON line per tool call
//! that changes something or was refused, and `verify-audit`, which checks a
//! log's chain and its anchor. See docs/security.md, "Audit log and rate
//! limits", and the record format in docs/contributing/security-design.md.

mod chain;
mod log;
mod record;
mod verify;

use std::cell::RefCell;
use std::future::Future;

pub use chain::{GENESIS, hash_line};
pub use log::{AuditLocked, AuditLog, anchor_path};
pub(crate) use record::SseSession;
pub use record::{Call, Client, Outcome, Record, Target};
pub use verify::{Broken, Verified, verify};

use crate::osc::OscError;

tokio::task_local! {
    static NOTED: RefCell<Noted>;
}

/// What a running tool call told its audit record.
#[derive(Debug, Default)]
pub(crate) struct Noted {
    /// How it ended, when the result alone does not say.
    pub outcome: Option<Outcome>,
    /// The service secrets it went to, when the arguments do not name them
    /// (a rotation whose targets came from the ledger).
    pub targets: Option<Vec<(String, String)>>,
}

/// Records how the running tool call failed, for its audit record. Outside
/// a call this does nothing.
pub(crate) fn note(outcome: Outcome) {
    let _ = NOTED.try_with(|noted| noted.borrow_mut().outcome = Some(outcome));
}

/// Records which service secrets the running call goes to.
pub(crate) fn note_targets(targets: Vec<(String, String)>) {
    let _ = NOTED.try_with(|noted| noted.borrow_mut().targets = Some(targets));
}

/// Runs `call`, and returns with its output what it [`note`]d.
pub(crate) async fn noting<F: Future>(call: F) -> (F::Output, Noted) {
    NOTED
        .scope(RefCell::new(Noted::default()), async {
            let output = call.await;
            (
                output,
                NOTED.with(|noted| std::mem::take(&mut *noted.borrow_mut())),
            )
        })
        .await
}

/// The OAuth identity a request to the handler carries, if any (see
/// [`crate::domain::Identity::find`]).
pub fn identity(extensions: &rmcp::model::Extensions) -> Option<&crate::domain::Identity> {
    crate::domain::Identity::find(
        extensions.get::<crate::domain::Identity>(),
        extensions.get::<http::request::Parts>(),
    )
}

/// The word an audit record uses for an OSC failure.
pub(crate) fn error_kind(error: &OscError) -> &'static str {
    match error {
        OscError::Unauthorized => "unauthorized",
        OscError::Forbidden => "forbidden",
        OscError::NotFound => "not_found",
        OscError::Conflict => "conflict",
        OscError::BadRequest { .. } => "bad_request",
        OscError::RateLimited { .. } => "rate_limited",
        OscError::Unavailable { .. } => "unavailable",
        OscError::Timeout { .. } => "timeout",
        OscError::Deadline { .. } => "deadline",
        OscError::Interrupted { .. } => "interrupted",
        OscError::Unreachable { .. } => "unreachable",
        OscError::Unexpected { .. } => "unexpected_status",
        OscError::TooLarge { .. } => "too_large",
        OscError::Decode { .. } => "decode",
        OscError::Setup { .. } => "setup",
    }
}
