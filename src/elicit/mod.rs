//! Asking the human, in whichever way the client can be asked.
//!
//! Two protocol eras ask differently:
//! - Up to 2025-11-25 the server sends `elicitation/create` to the client on
//!   the session and awaits the answer inside the tool call ([`Era::Session`]).
//!   Needs a session: over stateless HTTP the client's capabilities are
//!   forgotten, so it cannot be asked.
//! - From 2026-07-28 the tool answers with an `InputRequiredResult` carrying
//!   the requests and a sealed `requestState`; the client retries the call
//!   with the answers and the state ([`Era::Retry`], see [`state`]).
//!
//! [`Reach::of`] says which era a request is in and what its client
//! advertised; the callers (confirmation, `askUser`) decide what to do with
//! it. Capabilities are checked here, never assumed: rmcp checks them for
//! `Peer::elicit*`, but not for what goes into an `InputRequiredResult`.

pub mod confirm;
mod random;
mod reach;
mod records;
pub mod request;
pub mod state;

pub use random::{NoRandomness, unguessable};
pub use reach::{Caller, Era, Reach};
pub use request::{
    Answer, form_request, input_required, notify_complete, read_answer, url_request,
};
pub use state::{Binding, KeyFileError, SealError, SealingKeys, StateRefused, States};
