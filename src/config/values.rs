//! Which environment variables `fromEnv` may read.

use clap::Args;

use crate::values::{EnvAllowlist, EnvPattern, PatternError};

#[derive(Args, Debug, Default)]
pub struct ValuesArgs {
    /// Environment variables the `fromEnv` value source may read, comma-separated: names, or prefixes ending in `*` (for example `DB_PASSWORD,APP_SECRET_*`). None by default. The server's own credential variables (OSC_ACCESS_TOKEN, OSC_PAT_JWT, OSC_ACCESS_TOKEN_FILE, MCP_AUTH_TOKEN) can never be allowed, and an entry that names or matches one is refused at start.
    #[arg(long = "allow-env", env = "OSC_MCP_ALLOW_ENV", value_delimiter = ',', value_parser = parse_pattern, value_name = "NAMES")]
    pub allow_env: Vec<EnvPattern>,
}

fn parse_pattern(raw: &str) -> Result<EnvPattern, PatternError> {
    EnvPattern::parse(raw)
}

impl ValuesArgs {
    pub fn allowlist(&self) -> EnvAllowlist {
        EnvAllowlist::new(self.allow_env.clone())
    }
}
