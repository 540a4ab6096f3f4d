//! Thin adapters that serve the one handler: stdio, and HTTP (Streamable HTTP
//! and the legacy HTTP+SSE transport), and the loopback listener of askUser's
//! page on stdio. None of them knows what a secret is.

pub mod http;
pub mod page;
pub mod stdio;
