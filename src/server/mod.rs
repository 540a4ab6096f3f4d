//! The MCP surface: the one handler every transport serves.
//!
//! Results carry keys, references and outcomes; never a value. Anything the
//! model can correct comes back as a tool result with `isError: true` and a
//! sentence saying what to do next (see `docs/errors.md`). The tools
//! themselves live in [`crate::tools`], one file each; [`crate::domain::tool`]
//! is the one table of them.

pub(crate) mod arguments;
mod build;
mod handler;
pub(crate) mod hold;
mod instructions;
pub mod prompts;
pub mod resources;
mod schema;
mod surface;

pub use handler::SecretsServer;
pub use instructions::{INSTRUCTIONS, SANDBOX_NOTE};
pub use surface::{definitions, info, router};
