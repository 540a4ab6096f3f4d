//! Fixed wording for errors whose own text could quote what a client or
//! upstream sent. Nothing from outside is scrubbed and shown: it is dropped
//! and replaced by the server's own words (OSC's error bodies are never even
//! read; see `osc::send`).

/// Says why an MCP handshake failed without rmcp's own wording, which quotes
/// the client's first message in full: a `tools/call` sent before
/// `initialize` would put its arguments, a value among them, in the text.
pub fn handshake_failure(error: &rmcp::service::ServerInitializeError) -> String {
    use rmcp::service::ServerInitializeError as E;
    match error {
        E::ExpectedInitializeRequest(_) => {
            "the client's first message was not `initialize`".to_owned()
        }
        E::ConnectionClosed(_) | E::Cancelled => {
            "the client went away before the handshake finished".to_owned()
        }
        E::TransportError { context, .. } => format!("a transport error while {context}"),
        _ => "the initialize handshake failed".to_owned(),
    }
}

/// Says why a task ended without its panic payload, which tokio's own
/// wording includes.
pub fn task_failure(error: &tokio::task::JoinError) -> &'static str {
    if error.is_panic() {
        "the task panicked (message withheld)"
    } else {
        "the task was cancelled"
    }
}
