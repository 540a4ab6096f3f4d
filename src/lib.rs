//! osc-secrets-mcp: an MCP server that manages Eyevinn Open Source Cloud tenant
//! secrets by reference. Agents list, set, rotate, delete and materialize
//! secrets; no tool ever returns a value.
//!
//! The layout follows what each folder holds: `config` (flags and
//! environment), `domain` (keys, names, values, safe text), `osc` (the
//! client), `policy` (the operator's guardrails), `server` (the MCP handler
//! and its tool table), `tools` (one file per tool), `web` (HTTP rules shared
//! by every listener), `transport` (stdio and HTTP adapters), `emulator` (the
//! offline OSC, apart from the product path), and `app` (the composition
//! root).

pub mod app;
pub mod audit;
pub mod config;
pub mod domain;
pub mod elicit;
pub mod emulator;
pub mod limits;
pub mod logging;
pub mod osc;
pub mod policy;
pub mod redact;
pub mod server;
pub(crate) mod sync;
pub mod tools;
pub mod transport;
pub mod values;
pub mod web;
