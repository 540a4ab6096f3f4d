//! The integration tests, as one crate that links once: a module per area
//! and one harness (`support`) that every module shares.
//!
//! Tests that drive external clients (the MCP Python SDK, the conformance
//! suite, Chromium) are `#[ignore]`d with the reason; run with
//! `--include-ignored` they fail, never skip, when their client is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod arguments;
mod ask_page;
mod ask_page_sign_in;
mod ask_user;
mod audit;
mod browser;
mod budget;
mod client;
mod confirm;
mod emulator;
mod hostile_upstream;
mod http;
mod http_abuse;
mod leak;
mod ledger;
mod metrics;
mod oauth;
mod oauth_page;
mod oauth_provider;
mod oauth_typescript;
mod panic;
mod process;
mod prompts;
mod redis_store;
mod release;
mod replicas;
mod resources;
mod scoping;
mod stdio;
mod surface;
mod tls_proxy;
mod tools;
mod value_sources;
