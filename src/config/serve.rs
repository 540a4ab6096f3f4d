//! What to serve, against which OSC API, and how patiently.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::ask::AskArgs;
use super::audit::AuditArgs;
use super::guardrails::GuardrailArgs;
use super::http::HttpArgs;
use super::oauth::OAuthArgs;
use super::state::StateArgs;
use super::values::ValuesArgs;
use crate::osc::{Limits, RetryPolicy, environment_url};

pub use crate::domain::vars::TOKEN_VARS;

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
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Prod => "prod",
            Environment::Dev => "dev",
            Environment::Stage => "stage",
        }
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Serve against a built-in offline OSC emulator on an ephemeral loopback port; no token needed, and none accepted (nor --api-url or --environment).
    #[arg(long, env = "OSC_MCP_SANDBOX", value_parser = clap::builder::BoolishValueParser::new())]
    pub sandbox: bool,

    /// OSC environment whose API to use.
    #[arg(long, env = "OSC_ENVIRONMENT", value_enum, default_value = "prod")]
    pub environment: Environment,

    /// Whether --environment (or OSC_ENVIRONMENT) was given rather than
    /// defaulted; set by [`super::Cli::parse_all`].
    #[arg(skip)]
    pub environment_given: bool,

    /// Base URL of the OSC API; overrides --environment (for proxies, the emulator and tests). https://, or plain http:// to loopback only.
    #[arg(long, env = "OSC_API_URL")]
    pub api_url: Option<String>,

    /// Seconds one attempt of an OSC request may take; every attempt also ends by the call deadline.
    #[arg(long, env = "OSC_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout_secs: u64,

    /// Overall deadline of one tool call, in seconds: every attempt, retry and backoff wait fits inside it, and a Retry-After past it is reported instead of waited for. Keep it under the ~60 s clients wait for a result.
    #[arg(long, env = "OSC_CALL_DEADLINE_SECS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub call_deadline_secs: u64,

    /// Most bytes read from one OSC answer; a longer answer is an error, and no more of it is read.
    #[arg(long, env = "OSC_MAX_ANSWER_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub max_answer_bytes: u64,

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

    /// Log line format on stderr: `text`, or `json` (one JSON object a line, for log shippers: timestamp, level, message and fields).
    #[arg(long, env = "OSC_MCP_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: crate::logging::LogFormat,

    /// Transport to serve MCP on.
    #[arg(long, env = "MCP_TRANSPORT", value_enum, default_value = "stdio")]
    pub transport: Transport,

    /// Address to listen on with --transport http: IP:PORT, or HOST:PORT resolved at start (localhost is 127.0.0.1). Any address other than loopback needs MCP_AUTH_TOKEN.
    #[arg(long, env = "MCP_LISTEN", default_value = "127.0.0.1:8765", value_parser = super::listen::parse_listen, value_name = "ADDR")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub oauth: OAuthArgs,

    #[command(flatten)]
    pub guardrails: GuardrailArgs,

    #[command(flatten)]
    pub values: ValuesArgs,

    #[command(flatten)]
    pub audit: AuditArgs,

    #[command(flatten)]
    pub ask: AskArgs,

    #[command(flatten)]
    pub state: StateArgs,
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

    /// The call deadline and the answer cap.
    pub fn limits(&self) -> Limits {
        Limits {
            call_deadline: Duration::from_secs(self.call_deadline_secs),
            max_answer_bytes: usize::try_from(self.max_answer_bytes).unwrap_or(usize::MAX),
        }
    }

    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base_delay: Duration::from_millis(self.retry_base_ms),
            max_delay: Duration::from_secs(self.retry_max_wait_secs),
        }
    }
}
