//! One file per tool: its arguments, its output, its handler. Each file adds
//! a router to [`crate::server::SecretsServer`]; the table in
//! [`crate::server::registry`] combines them.

pub mod delete;
pub mod list;
pub mod materialize;
pub mod rotate;
pub mod set;
