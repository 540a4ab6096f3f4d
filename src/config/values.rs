//! Which environment variables `fromEnv` may read, and how `askUser`
//! reaches a client that cannot show its one-time page itself.

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::ask_user::AskSettings;
use crate::values::{EnvAllowlist, EnvPattern, PatternError};

/// A setting that is on or off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    #[default]
    On,
    Off,
}

#[derive(Args, Debug, Default)]
pub struct ValuesArgs {
    /// Environment variables the `fromEnv` value source may read, comma-separated: names, or prefixes ending in `*` (for example `DB_PASSWORD,APP_SECRET_*`). None by default. The server's own credential variables (OSC_ACCESS_TOKEN, OSC_PAT_JWT, OSC_ACCESS_TOKEN_FILE, MCP_AUTH_TOKEN, MCP_OAUTH_PAGE_CLIENT_SECRET, OSC_MCP_REDIS_URL) can never be allowed, and an entry that names or matches one is refused at start.
    #[arg(long = "allow-env", env = "OSC_MCP_ALLOW_ENV", value_delimiter = ',', value_parser = parse_pattern, value_name = "NAMES")]
    pub allow_env: Vec<EnvPattern>,

    /// askUser with a client that cannot show a one-time page itself (no URL elicitation): `on` hands the link to the agent to show the human, so the link passes through the model; `off` refuses such calls.
    #[arg(long = "ask-user-fallback", env = "OSC_MCP_ASK_USER_FALLBACK", value_enum, default_value_t = Switch::On, value_name = "on|off")]
    pub ask_user_fallback: Switch,
}

fn parse_pattern(raw: &str) -> Result<EnvPattern, PatternError> {
    EnvPattern::parse(raw)
}

impl ValuesArgs {
    pub fn allowlist(&self) -> EnvAllowlist {
        EnvAllowlist::new(self.allow_env.clone())
    }

    /// How askUser behaves. `session_idle`: how long an HTTP session may
    /// stay quiet before it is closed, when serving HTTP; a call waiting
    /// for the page pings its client well within it.
    pub fn ask_settings(&self, session_idle: Option<Duration>) -> AskSettings {
        AskSettings {
            fallback: self.ask_user_fallback == Switch::On,
            session_ping: session_idle.map(|idle| idle / 3),
            ..AskSettings::default()
        }
    }
}
