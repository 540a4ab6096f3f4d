//! The benchmark floor: the smallest useful rmcp server, one `echo` tool,
//! built from the same rmcp with the same release profile as the product, so
//! `scripts/bench` shows what MCP itself costs. stdio by default;
//! `--http ADDR` serves Streamable HTTP (stateless, JSON responses).

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

#[path = "bench/common.rs"]
mod common;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// Text to send back.
    text: String,
}

#[derive(Clone)]
struct Echo {
    tool_router: ToolRouter<Echo>,
}

#[tool_router]
impl Echo {
    #[tool(description = "Echo the text back")]
    fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn main() -> Result<(), common::Error> {
    let router = Echo::tool_router();
    common::run(move || Echo {
        tool_router: router.clone(),
    })
}
