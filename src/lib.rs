//! osc-secrets-mcp: an MCP server that manages Eyevinn Open Source Cloud tenant
//! secrets by reference. Agents list, set, rotate, delete and materialize
//! secrets; no tool ever returns a value.
//!
//! Modules depend one way, each only on those listed before it:
//!
//! - `domain`: keys, services, values, safe text, the tool table; pure data.
//! - `osc`: the OSC client, its one request path and its errors.
//! - `store`: state that outlives a request: the materialization ledger and
//!   spent request states, in memory or in SQLite.
//! - `advice`: the sentences every refusal and OSC failure is told in.
//! - `audit`, `policy` (guardrails and rate limits), `values` (where a value
//!   comes from), `elicit` (asking the human: the eras, sealed states,
//!   confirmation).
//! - `ask_user`: the one-time page the human types a value on, its links and
//!   its flow (over `web`'s HTTP rules).
//! - `tools`: one file per tool, over the [`tools::Toolkit`] they share.
//! - `server`: the MCP handler; composes guardrails, confirmation, tools and
//!   the audit record; resources and prompts.
//! - `transport`: the stdio and HTTP adapters; `web` holds the HTTP rules
//!   every listener shares, below `ask_user`.
//! - `config` (flags and environment) and `app` (the composition root).
//!
//! `dns`, `logging`, `metrics`, `redact` and `sync` are small utilities any
//! of them may use;
//! `emulator` is the offline OSC, apart from the product path.

pub mod advice;
pub mod app;
pub mod ask_user;
pub mod audit;
pub mod config;
pub mod dns;
pub mod domain;
pub mod elicit;
pub mod emulator;
pub mod logging;
pub mod metrics;
pub mod osc;
pub mod policy;
pub mod redact;
pub mod server;
pub mod store;
pub(crate) mod sync;
pub mod tools;
pub mod transport;
pub mod values;
pub mod web;
