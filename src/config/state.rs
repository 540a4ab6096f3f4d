//! Where state that outlives a request is kept, and the keys that seal
//! `requestState`; the `new-state-key` subcommand.

use std::path::PathBuf;

use clap::Args;

use super::ConfigError;
use crate::elicit::SealingKeys;
use crate::store::redis::RedisUrl;

#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "State")]
pub struct StateArgs {
    /// Keep the ledger of materializations, spent confirmation states and open askUser links in an SQLite file in this directory (created 0700, the file 0600), shared safely by every server process that names it. Default: $XDG_STATE_HOME/osc-secrets-mcp, else ~/.local/state/osc-secrets-mcp. --sandbox keeps everything in memory.
    #[arg(long, env = "OSC_MCP_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Seal requestState and askUser's links with the keys in this file (one a line: 32 random bytes as 64 hex characters or base64; the first seals, every one opens), so every replica opens what another sealed. Print a fresh line with `osc-secrets-mcp new-state-key`. Default: a fresh key per process.
    #[arg(long, env = "OSC_MCP_STATE_KEY_FILE", value_name = "FILE")]
    pub state_key_file: Option<PathBuf>,

    /// Keep the ledger, spent confirmation states and open askUser links in Redis, shared by every replica that names it: redis://HOST:PORT/DB, or rediss:// for TLS. Needs --state-key-file (the same file on every replica); not with --state-dir. A URL with a password belongs in OSC_MCP_REDIS_URL only, never on the command line.
    #[arg(
        long,
        env = "OSC_MCP_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<RedisUrl>,

    /// Whether `--redis-url` came from the command line rather than the
    /// environment; set by [`super::Cli::parse_all`].
    #[arg(skip)]
    pub redis_url_on_command_line: bool,
}

/// The state directory's default: under the XDG state home.
pub fn default_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".local").join("state"))
        })?;
    Some(base.join("osc-secrets-mcp"))
}

impl StateArgs {
    /// The state directory: the one given, else the default; `None` when
    /// there is no home to put it under.
    pub fn dir(&self) -> Option<PathBuf> {
        self.state_dir.clone().or_else(default_state_dir)
    }

    /// The Redis to keep state in, if `--redis-url` is given and usable
    /// with the other state settings. Checked before anything starts;
    /// nothing here quotes the URL.
    pub fn redis(&self) -> Result<Option<RedisUrl>, ConfigError> {
        let Some(url) = self.redis_url.as_ref().filter(|u| !u.is_blank()) else {
            return Ok(None);
        };
        let facts = url
            .check()
            .map_err(|problem| ConfigError::RedisUrl { problem })?;
        if facts.password && self.redis_url_on_command_line {
            return Err(ConfigError::RedisPasswordOnCommandLine);
        }
        if self.state_dir.is_some() {
            return Err(ConfigError::TwoStores);
        }
        if self.state_key_file.is_none() {
            return Err(ConfigError::RedisWithoutKeyFile);
        }
        Ok(Some(url.clone()))
    }

    /// The sealing keys read from the key file, if one is given.
    pub fn sealing_keys(&self) -> Result<Option<SealingKeys>, ConfigError> {
        let Some(path) = &self.state_key_file else {
            return Ok(None);
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::StateKeyFile {
            path: shown.clone(),
            why: format!("it cannot be read ({})", e.kind()),
        })?;
        SealingKeys::parse(&text)
            .map(Some)
            .map_err(|e| ConfigError::StateKeyFile {
                path: shown,
                why: e.to_string(),
            })
    }
}
