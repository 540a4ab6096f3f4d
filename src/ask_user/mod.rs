//! `askUser`: the human types a value on a one-time page, out of the model's
//! sight. Everything of it but its flags (`config`) and the two listeners
//! that serve the page (the HTTP transport's routes, and the loopback
//! listener stdio starts in `transport::page`):
//!
//! - [`asker`]: what askUser works with ([`Asker`]) and how the operator set
//!   it ([`AskSettings`]);
//! - [`flow`]: how a tool call reaches the human, by what the client can do;
//! - [`links`]: the one-time links, their single use and their fate;
//! - [`page`]: the page itself, its form and its answers;
//! - [`sign_in`]: with OAuth, how the page signs the person in.
//!
//! The tools' own branch (which write runs with the value) is
//! `Toolkit::ask_user` in `tools`.

pub mod asker;
pub mod flow;
pub mod links;
pub mod page;
pub mod sign_in;

pub use asker::{AskSettings, Asker};
