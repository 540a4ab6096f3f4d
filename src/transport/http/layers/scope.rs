//! OAuth scopes, after the peek of `POST /mcp`: a call the access token's
//! scopes do not allow is answered `403 insufficient_scope`, naming the
//! scope it needs (with those the token holds, in the challenge), before it
//! reaches the transport (and so before any OSC request). A client can then
//! ask the person for that scope (step-up).
//! Only on a listener with OAuth; requests without a [`Needs`] pass.
//!
//! An [`Around`]: the check waits for nothing, so it costs no `from_fn`
//! (its boxed future and deep copy of the routes below, on every call).

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;

use super::super::oauth::ResourceServer;
use super::around::Around;
use super::peek::{Needs, Peeked};
use super::refused;
use crate::domain::Identity;

/// The layer: `AroundLayer(Enforce(oauth))`, inside the peek.
#[derive(Clone)]
pub(crate) struct Enforce(pub(crate) Arc<ResourceServer>);

impl Around for Enforce {
    type Note = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        let needs = request.extensions().get::<Peeked>().and_then(|p| p.needs);
        match check(&self.0, request.extensions().get::<Identity>(), needs) {
            Some(refusal) => Err(refused(refusal)),
            None => Ok(()),
        }
    }
}

/// The refusal of a request the identity's scopes do not allow, if it is one.
pub(crate) fn check(
    oauth: &ResourceServer,
    identity: Option<&Identity>,
    needs: Option<Needs>,
) -> Option<Response> {
    let (identity, needs) = (identity?, needs?);
    if identity.allows(needs.kind) {
        return None;
    }
    let scope = identity.needed(needs.kind);
    tracing::info!(
        subject = %identity.subject,
        request = needs.what,
        scope,
        "OAuth: request refused, the access token lacks its scope"
    );
    Some(oauth.insufficient_scope(&identity.step_up(needs.kind), scope, needs.what))
}
