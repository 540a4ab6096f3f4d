//! Thin adapters that serve the one handler: stdio, and HTTP (Streamable HTTP
//! and the legacy HTTP+SSE transport). None of them knows what a secret is.

pub mod http;
pub mod stdio;
