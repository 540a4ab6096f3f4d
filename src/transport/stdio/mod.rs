//! stdio: one client on stdin and stdout; logs go to stderr.

mod calls;
mod lines;

pub use calls::{Capped, MAX_CALLS_IN_FLIGHT, TOO_MANY_CALLS};
pub use lines::{INVALID_REQUEST, LineTransport, MAX_LINE_BYTES, PARSE_ERROR};

use rmcp::ServiceExt;

use crate::redact;
use crate::server::SecretsServer;

/// Why serving over stdio ended badly, in the server's own words (rmcp's
/// would quote the client's messages).
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("MCP initialization over stdio failed: {0}")]
    Handshake(String),
    #[error("the stdio session ended: {0}")]
    Ended(&'static str),
}

/// Serves `server` until the client closes stdin, at most
/// [`MAX_CALLS_IN_FLIGHT`] requests at once.
pub async fn serve(server: SecretsServer) -> Result<(), StdioError> {
    server.serve_links();
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let running = Capped::new(server, MAX_CALLS_IN_FLIGHT)
        .serve(LineTransport::new(stdin, stdout))
        .await
        .map_err(|e| StdioError::Handshake(redact::handshake_failure(&e)))?;
    running
        .waiting()
        .await
        .map_err(|e| StdioError::Ended(redact::task_failure(&e)))?;
    Ok(())
}
