//! Where each endpoint lives, and how often streams are kept alive.

use std::time::Duration;

/// Streamable HTTP endpoint.
pub const MCP_PATH: &str = "/mcp";
/// Legacy HTTP+SSE event stream.
pub const SSE_PATH: &str = "/sse";
/// Legacy HTTP+SSE message endpoint.
pub const MESSAGES_PATH: &str = "/messages";
/// Health check; needs no token.
pub const HEALTH_PATH: &str = "/healthz";
/// Prometheus metrics; behind the bearer token like `/mcp`.
pub const METRICS_PATH: &str = "/metrics";
/// How often an SSE stream carries a comment to keep proxies from closing it.
pub(super) const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
