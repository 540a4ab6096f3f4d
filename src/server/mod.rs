//! The MCP surface: the one handler every transport serves.
//!
//! Results carry keys, references and outcomes; never a value. Anything the
//! model can correct comes back as a tool result with `isError: true` and a
//! sentence saying what to do next (see `docs/errors.md`). The tools
//! themselves live in [`crate::tools`], one file each; [`registry`] is the one
//! table of them.

pub mod advice;
mod instructions;
pub mod registry;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool_handler};

use crate::osc::OscClient;

pub use instructions::INSTRUCTIONS;

/// The tool handler. Cheap to clone: every transport session gets a clone.
#[derive(Clone)]
pub struct SecretsServer {
    pub(crate) osc: Arc<OscClient>,
    tool_router: ToolRouter<SecretsServer>,
}

impl SecretsServer {
    pub fn new(osc: Arc<OscClient>) -> Self {
        SecretsServer {
            osc,
            tool_router: registry::router(),
        }
    }
}

/// What the server says about itself at `initialize`: name, version, title,
/// instructions and capabilities. Needs no OSC client, so the docs and the
/// manifest are written from it.
pub fn describe() -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(
            Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                .with_title("OSC Secrets")
                .with_description(env!("CARGO_PKG_DESCRIPTION")),
        )
        .with_instructions(INSTRUCTIONS)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SecretsServer {
    fn get_info(&self) -> ServerConfig {
        describe()
    }
}
