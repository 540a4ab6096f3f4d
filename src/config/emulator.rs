//! `osc-secrets-mcp emulator`: the offline OSC on its own.

use clap::Args;

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
