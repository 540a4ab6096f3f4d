//! Command line and environment. Every setting is a flag with an environment
//! twin; the OSC token is read from the environment only, never from argv.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::osc::{RetryPolicy, environment_url};

/// Environment variables that may hold the OSC personal access token, in the
/// order they are read: OSC's own tools use the first, its API docs the second.
pub const TOKEN_VARS: [&str; 2] = ["OSC_ACCESS_TOKEN", "OSC_PAT_JWT"];

#[derive(Parser, Debug)]
#[command(
    name = "osc-secrets-mcp",
    version,
    about = "MCP server for Eyevinn Open Source Cloud tenant secrets: agents handle references, never values.",
    long_about = "MCP server for Eyevinn Open Source Cloud tenant secrets. Agents list, set, delete and \
materialize secrets and only ever see references such as {{secrets.apikey}}; no tool reads a value.\n\n\
The OSC personal access token is read from OSC_ACCESS_TOKEN (or OSC_PAT_JWT), never from the command line. \
Run with --sandbox to try it against a built-in offline emulator, without an OSC account."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the offline OSC emulator (tenant and service secrets) on loopback.
    Emulator(EmulatorArgs),
    /// Rewrite docs/tools.md and mcp-manifest.json from the live tool list (or check them with --check).
    GenerateDocs {
        /// Only compare; exit 1 if a file differs from what the code generates.
        #[arg(long)]
        check: bool,
        /// The repository root holding docs/ and mcp-manifest.json.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// Port to listen on, on 127.0.0.1 (0 picks a free one and prints it).
    #[arg(long, env = "OSC_EMULATOR_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Start with no keys at all instead of sample `user.*` and `system.*` keys.
    #[arg(long)]
    pub empty: bool,
    /// Answer GET /mytenantsecrets with {"secrets": [...]} instead of a bare array.
    #[arg(long)]
    pub wrapped_list: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    Stdio,
    Http,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Prod,
    Dev,
    Stage,
}

impl Environment {
    fn as_str(self) -> &'static str {
        match self {
            Environment::Prod => "prod",
            Environment::Dev => "dev",
            Environment::Stage => "stage",
        }
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Serve against a built-in offline OSC emulator on an ephemeral loopback port; no token needed.
    #[arg(long, env = "OSC_MCP_SANDBOX", value_parser = clap::builder::BoolishValueParser::new())]
    pub sandbox: bool,

    /// OSC environment whose API to use.
    #[arg(long, env = "OSC_ENVIRONMENT", value_enum, default_value = "prod")]
    pub environment: Environment,

    /// Base URL of the OSC API; overrides --environment (for proxies, the emulator and tests).
    #[arg(long, env = "OSC_API_URL")]
    pub api_url: Option<String>,

    /// Seconds a whole OSC request may take.
    #[arg(long, env = "OSC_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout_secs: u64,

    /// Seconds to wait for a connection to OSC.
    #[arg(long, env = "OSC_CONNECT_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub connect_timeout_secs: u64,

    /// Retries of a failed request that is safe to repeat (0 disables retries).
    #[arg(long, env = "OSC_MAX_RETRIES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub max_retries: u32,

    /// First retry backoff in milliseconds; doubled on each retry, with jitter.
    #[arg(long, env = "OSC_RETRY_BASE_MS", default_value_t = 250)]
    pub retry_base_ms: u64,

    /// Longest wait before one retry, in seconds; a longer Retry-After is reported instead of waited for.
    #[arg(long, env = "OSC_RETRY_MAX_WAIT_SECS", default_value_t = 10)]
    pub retry_max_wait_secs: u64,

    /// Log level on stderr: off, error, warn, info, debug or trace. Logs never hold tool arguments, results or values.
    #[arg(long, env = "OSC_MCP_LOG", default_value = "info")]
    pub log_level: tracing_subscriber::filter::LevelFilter,

    /// Transport to serve MCP on.
    #[arg(long, env = "MCP_TRANSPORT", value_enum, default_value = "stdio")]
    pub transport: Transport,

    /// Address to listen on with --transport http. Any address other than loopback needs MCP_AUTH_TOKEN.
    #[arg(long, env = "MCP_LISTEN", default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub http: HttpArgs,
}

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

    /// Serve /mcp without sessions, so replicas can run behind a load balancer without affinity.
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

    /// Seconds in-flight calls get to finish after SIGINT or SIGTERM before the server exits.
    #[arg(long, env = "MCP_SHUTDOWN_GRACE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub shutdown_grace_secs: u64,
}

/// Environment variable holding the bearer token HTTP clients must present.
pub const AUTH_TOKEN_VAR: &str = "MCP_AUTH_TOKEN";

impl HttpArgs {
    /// The server's own bearer token, from [`AUTH_TOKEN_VAR`] or
    /// `--auth-token-file`; None when neither is set. Errors name what to fix
    /// and never quote the token.
    pub fn auth_token(&self) -> Result<Option<SecretString>, String> {
        let from_env = std::env::var(AUTH_TOKEN_VAR)
            .ok()
            .filter(|raw| !raw.trim().is_empty());
        let raw = match (from_env, &self.auth_token_file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "both {AUTH_TOKEN_VAR} and --auth-token-file (MCP_AUTH_TOKEN_FILE) are set: set only one"
                ));
            }
            (Some(raw), None) => raw,
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "cannot read the auth token file {} given by --auth-token-file (MCP_AUTH_TOKEN_FILE): {}",
                    path.display(),
                    e.kind()
                )
            })?,
            (None, None) => return Ok(None),
        };
        let token = raw.trim();
        let source = if self.auth_token_file.is_some() {
            "the file given by --auth-token-file"
        } else {
            AUTH_TOKEN_VAR
        };
        if token.is_empty() {
            return Err(format!("{source} holds an empty auth token"));
        }
        if let Some(problem) = token_problem(token) {
            return Err(format!("the auth token in {source} {problem}"));
        }
        Ok(Some(SecretString::from(token.to_owned())))
    }
}

/// Shortest bearer token accepted: shorter ones can be guessed.
pub const MIN_AUTH_TOKEN_LEN: usize = 16;

/// Why a token cannot be used in an `Authorization: Bearer` header, if it cannot.
fn token_problem(token: &str) -> Option<String> {
    if token.len() < MIN_AUTH_TOKEN_LEN {
        return Some(format!(
            "is shorter than {MIN_AUTH_TOKEN_LEN} characters; use a long random one, for example from `openssl rand -hex 32`"
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Some(
            "holds spaces, control or non-ASCII characters; it must fit in an HTTP header, for example `openssl rand -hex 32`"
                .to_owned(),
        );
    }
    None
}

impl ServeArgs {
    /// The OSC API base URL these settings select.
    pub fn base_url(&self) -> String {
        self.api_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .or_else(|| environment_url(self.environment.as_str()))
            .unwrap_or_default()
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base_delay: Duration::from_millis(self.retry_base_ms),
            max_delay: Duration::from_secs(self.retry_max_wait_secs),
        }
    }
}

/// Reads the OSC token from the first of [`TOKEN_VARS`] that is set and not blank.
pub fn token_from_env() -> Option<SecretString> {
    TOKEN_VARS.iter().find_map(|name| {
        let raw = std::env::var(name).ok()?;
        let trimmed = raw.trim();
        (!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned()))
    })
}

/// The start-up error for a missing token.
pub fn missing_token_message() -> String {
    format!(
        "no OSC personal access token: set {} (or {}) to the token from the OSC web console (Settings, API), \
         or run with --sandbox to try the server against the built-in emulator",
        TOKEN_VARS[0], TOKEN_VARS[1]
    )
}
