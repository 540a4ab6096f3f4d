//! With OAuth, a Streamable HTTP session belongs to the subject whose
//! access token opened it: a request that names the session with another
//! subject's token is answered as if there were no such session (`404`),
//! before rmcp sees it, on every method (a `GET` stream would carry the
//! session's questions to the other person). The legacy SSE transport
//! binds its sessions itself (see `sse`).
//!
//! The owner is noted when rmcp answers an `initialize` with a new
//! session id, and forgotten here when the session closes here. Where the state
//! store keeps sessions for other replicas, it keeps their owners too
//! (under a digest of the session id, as the sessions), so a replica that
//! continues a session checks the same owner; a store that cannot be
//! asked refuses (`503`), never lets the request through unchecked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::refused;
use crate::domain::Identity;
use crate::store::{Store, StoreError};
use crate::sync::lock;
use crate::web::error_response;

const SESSION_HEADER: &str = "mcp-session-id";

/// Which subject owns each open session of this process (and, through
/// the store, of every replica sharing it).
pub(crate) struct Owners {
    local: Mutex<HashMap<String, Arc<str>>>,
    /// Set where the store keeps sessions for other replicas.
    store: Option<Store>,
}

impl Owners {
    pub(crate) fn new(store: Option<Store>) -> Arc<Owners> {
        Arc::new(Owners {
            local: Mutex::default(),
            store,
        })
    }

    /// The owner of `session`, if known here or in the store.
    async fn owner(&self, session: &str) -> Result<Option<Arc<str>>, StoreError> {
        if let Some(owner) = lock(&self.local).get(session) {
            return Ok(Some(Arc::clone(owner)));
        }
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let owner: Option<Arc<str>> = store.load_session(&key(session)).await?.map(Arc::from);
        if let Some(owner) = &owner {
            lock(&self.local).insert(session.to_owned(), Arc::clone(owner));
        }
        Ok(owner)
    }

    /// `subject` opened `session`.
    async fn own(&self, session: &str, subject: Arc<str>) {
        lock(&self.local).insert(session.to_owned(), Arc::clone(&subject));
        if let Some(store) = &self.store
            && let Err(e) = store.save_session(&key(session), &subject).await
        {
            // The session then continues on this replica only: another
            // finds no owner and refuses it.
            tracing::warn!(error = %e, "a session's owner could not be kept in the state store");
        }
    }

    /// The session closed here (or its copy here expired): its owner is
    /// forgotten in this process. The store's entry lives as long as the
    /// store keeps the session itself (a day), since another replica may
    /// still serve it.
    pub(crate) fn forget(&self, session: &str) {
        lock(&self.local).remove(session);
    }
}

/// What a session's owner is kept under in the store, beside the session.
fn key(session: &str) -> String {
    format!("owner {session}")
}

pub(crate) async fn enforce(
    State(owners): State<Arc<Owners>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(subject) = request
        .extensions()
        .get::<Identity>()
        .map(|i| Arc::clone(&i.subject))
    else {
        return next.run(request).await;
    };
    let named = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(session) = named else {
        let response = next.run(request).await;
        if let Some(opened) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            owners.own(opened, subject).await;
        }
        return response;
    };
    match owners.owner(&session).await {
        Ok(Some(owner)) if owner == subject => next.run(request).await,
        Ok(owner) => {
            if owner.is_some() {
                tracing::info!(
                    subject = %subject,
                    "OAuth: a request named a session another subject opened; refused as unknown"
                );
            }
            refused(error_response(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "No such session: it was closed or expired. Open a new one with an initialize request.",
            ))
        }
        Err(e) => refused(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "state_store_unreachable",
            format!("Whose session this is cannot be checked now: {e}. Retry in a minute."),
        )),
    }
}
