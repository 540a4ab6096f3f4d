//! Settings of `--transport http`.

use std::path::PathBuf;

use clap::Args;
use secrecy::SecretString;

use super::error::ConfigError;

/// Settings of `--transport http`. The server's own bearer token comes from
/// [`AUTH_TOKEN_VAR`] or a file, never from the command line.
#[derive(Args, Debug)]
#[command(next_help_heading = "HTTP transport")]
pub struct HttpArgs {
    /// File holding the bearer token HTTP clients must send (instead of MCP_AUTH_TOKEN); surrounding whitespace is ignored.
    #[arg(long, env = "MCP_AUTH_TOKEN_FILE", value_name = "PATH")]
    pub auth_token_file: Option<PathBuf>,

    /// Host names (or host:port) clients may use to reach the server, comma-separated, besides localhost, 127.0.0.1 and ::1; `*` accepts any Host. Other Host headers get 403 (DNS-rebinding protection).
    #[arg(
        long,
        env = "MCP_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOSTS"
    )]
    pub allowed_hosts: Vec<String>,

    /// Browser origins allowed to call the server, comma-separated (for example https://app.example.com, or http://localhost:* for any port), besides loopback origins. A request with any other Origin header gets 403.
    #[arg(
        long,
        env = "MCP_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub allowed_origins: Vec<String>,

    /// Serve /mcp without sessions; clients of protocol 2025-11-25 or older then cannot be asked anything (no typed confirmation, no askUser page shown by the client), and it shares no state between replicas by itself (--state-key-file with --state-dir on one machine, or with --redis-url across machines, does; see docs/deployment.md).
    #[arg(long, env = "MCP_STATELESS", value_parser = clap::builder::BoolishValueParser::new())]
    pub stateless: bool,

    /// Largest request body accepted, in bytes; larger requests get 413.
    #[arg(long, env = "MCP_MAX_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=64 * 1024 * 1024))]
    pub max_body_bytes: u64,

    /// Most MCP sessions (Streamable HTTP and SSE together) open at once; beyond it, new sessions get 503.
    #[arg(long, env = "MCP_MAX_SESSIONS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_sessions: u32,

    /// Seconds a session may stay idle before it is closed and its memory freed.
    #[arg(long, env = "MCP_SESSION_IDLE_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub session_idle_secs: u64,

    /// Most requests one client (a session, or a remote address without one) may have in flight; beyond it, 429.
    #[arg(long, env = "MCP_MAX_CONCURRENT_PER_CLIENT", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_concurrent_per_client: u32,

    /// Seconds in-flight calls get to finish after SIGINT or SIGTERM (while /healthz answers 503); calls still running then get a JSON-RPC error saying the server is shutting down, and the server exits.
    #[arg(long, env = "MCP_SHUTDOWN_GRACE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub shutdown_grace_secs: u64,

    /// Seconds a client has to send a complete request head, counted from connecting (or from the first byte of a next request on a kept-alive connection); the same bound applies to a request body. Slower connections are closed.
    #[arg(long, env = "MCP_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout_secs: u64,

    /// Seconds a kept-alive connection may wait for its next request before it is closed.
    #[arg(long, env = "MCP_CONNECTION_IDLE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub connection_idle_secs: u64,

    /// Most client connections open at once, lowered automatically to fit below the process's open-file limit (ulimit -n). At the cap a new connection replaces the oldest one that has not sent a complete request (then the oldest idle one); only when all are busy is it refused with 503.
    #[arg(long, env = "MCP_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Also serve /metrics (Prometheus) on a listener of its own at this address, without authentication, for a scraper that cannot send the bearer token; it serves nothing else. Without it, /metrics is on the main listener behind the bearer token.
    #[arg(long, env = "OSC_MCP_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

pub use crate::domain::vars::AUTH_TOKEN_VAR;

impl HttpArgs {
    /// The server's own bearer token, from [`AUTH_TOKEN_VAR`] or
    /// `--auth-token-file`; None when neither is set. Errors name what to fix
    /// and never quote the token.
    pub fn auth_token(&self) -> Result<Option<SecretString>, ConfigError> {
        let from_env = std::env::var(AUTH_TOKEN_VAR)
            .ok()
            .filter(|raw| !raw.trim().is_empty());
        let (raw, source) = match (from_env, &self.auth_token_file) {
            (Some(_), Some(_)) => return Err(ConfigError::AuthTokenTwice),
            (Some(raw), None) => (raw, AUTH_TOKEN_VAR),
            (None, Some(path)) => (
                std::fs::read_to_string(path).map_err(|e| ConfigError::AuthTokenFile {
                    path: path.display().to_string(),
                    kind: e.kind(),
                })?,
                "the file given by --auth-token-file",
            ),
            (None, None) => return Ok(None),
        };
        let token = raw.trim();
        if token.is_empty() {
            return Err(ConfigError::AuthTokenEmpty { origin: source });
        }
        if let Some(problem) = token_problem(token) {
            return Err(ConfigError::AuthTokenUnusable {
                origin: source,
                problem,
            });
        }
        Ok(Some(SecretString::from(token.to_owned())))
    }
}

/// Shortest bearer token accepted: shorter ones can be guessed.
pub const MIN_AUTH_TOKEN_LEN: usize = 16;

/// Why a token cannot be used in an `Authorization: Bearer` header, if it cannot.
fn token_problem(token: &str) -> Option<&'static str> {
    if token.len() < MIN_AUTH_TOKEN_LEN {
        return Some(
            "is shorter than 16 characters; use a long random one, for example from `openssl rand -hex 32`",
        );
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Some(
            "holds spaces, control or non-ASCII characters; it must fit in an HTTP header, for example `openssl rand -hex 32`",
        );
    }
    None
}
