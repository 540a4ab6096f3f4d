//! osc-secrets-mcp: an MCP server that manages Eyevinn Open Source Cloud tenant
//! secrets by reference. Agents list, set, delete and materialize secrets; no
//! tool ever returns a value.

pub mod config;
pub mod docs;
pub mod emulator;
pub mod http;
pub mod logging;
pub mod osc;
pub mod redact;
pub mod sse;
pub mod tools;
pub mod validate;
