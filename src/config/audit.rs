//! The audit log and the rate limits on changes, and the `verify-audit`
//! subcommand's arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Append one hash-chained JSON line per tool call that changes something or was refused to this file (created with mode 0600), and keep the chain's head in PATH.anchor beside it. Records never hold a value or the token. Check it with `osc-secrets-mcp verify-audit PATH`.
    #[arg(long, env = "OSC_MCP_AUDIT_LOG", value_name = "PATH")]
    pub audit_log: Option<PathBuf>,

    /// Refuse every change (before contacting OSC) while the audit log cannot be written. Needs --audit-log.
    #[arg(long, env = "OSC_MCP_AUDIT_REQUIRED", value_parser = clap::builder::BoolishValueParser::new(), requires = "audit_log")]
    pub audit_required: bool,

    /// Most changes (set, materialize, delete, and a rotation's write and each of its targets) per minute, shared by every client of this process (of every replica, with --redis-url), or with --oauth-issuer each signed-in subject's own; more are refused with the seconds to wait. 0 is no limit.
    #[arg(long, env = "OSC_MCP_MAX_WRITES_PER_MINUTE", default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub max_writes_per_minute: u32,

    /// Most deletes per minute, shared by every client of this process (of every replica, with --redis-url), or with --oauth-issuer each signed-in subject's own; each also counts as a change. 0 is no limit.
    #[arg(long, env = "OSC_MCP_MAX_DELETES_PER_MINUTE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub max_deletes_per_minute: u32,
}

/// `osc-secrets-mcp verify-audit PATH`: checks an audit log's chain.
#[derive(Args, Debug)]
pub struct VerifyAuditArgs {
    /// The audit log to check.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// The anchor file to check the log's last record against; by default PATH.anchor, when it exists. Without an anchor, records cut off the end cannot be detected.
    #[arg(long, value_name = "FILE")]
    pub anchor: Option<PathBuf>,
}
