//! The MCP surface: the one handler every transport serves.
//!
//! Results carry keys, references and outcomes; never a value. Anything the
//! model can correct comes back as a tool result with `isError: true` and a
//! sentence saying what to do next (see `docs/errors.md`). The tools
//! themselves live in [`crate::tools`], one file each; [`registry`] is the one
//! table of them.

pub mod advice;
pub(crate) mod arguments;
mod handler;
pub(crate) mod hold;
mod instructions;
pub mod prompts;
pub mod registry;
pub mod resources;

pub use handler::{SANDBOX_NOTE, SecretsServer, definitions, describe, router};
pub use instructions::INSTRUCTIONS;
