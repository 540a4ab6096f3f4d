//! Guardrails an operator sets: which tools are served, which keys they
//! may act on, and when a human confirms. Checked at start by [`GuardrailArgs::policy`]; see
//! [`crate::policy`] for what each setting means.

use clap::Args;

use crate::policy::{ConfirmMode, KeyScope, Policy, PolicyError, ToolScope};

#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Guardrails")]
pub struct GuardrailArgs {
    /// Serve only the tools that change nothing (list_tenant_secrets); wins over --tools. Other tools are absent from tools/list and refused if called.
    #[arg(long, env = "OSC_MCP_READ_ONLY", value_parser = clap::builder::BoolishValueParser::new())]
    pub read_only: bool,

    /// Serve only these tools, comma-separated exact names; every tool when not given. An unknown name stops the server at start.
    #[arg(
        long,
        env = "OSC_MCP_TOOLS",
        value_delimiter = ',',
        value_name = "NAMES"
    )]
    pub tools: Vec<String>,

    /// Do not serve these tools, comma-separated exact names; wins over --tools. An unknown name stops the server at start.
    #[arg(
        long,
        env = "OSC_MCP_EXCLUDE_TOOLS",
        value_delimiter = ',',
        value_name = "NAMES"
    )]
    pub exclude_tools: Vec<String>,

    /// Limit every tool to keys matching these glob patterns, comma-separated, for example user.ci.*,user.gitcred.*. `*`, `?` and `[...]` never cross a dot; a `**` segment matches any number of segments. Other keys are not listed and are refused before any OSC request.
    #[arg(
        long,
        env = "OSC_MCP_KEYS",
        value_delimiter = ',',
        value_name = "PATTERNS"
    )]
    pub keys: Vec<String>,

    /// When a human confirms deletes and writes that replace an existing key, by typing the key: `auto` asks clients that support form elicitation, `always` also refuses when the client cannot be asked, `never` does not ask.
    #[arg(
        long,
        env = "OSC_MCP_CONFIRM",
        value_enum,
        default_value_t = ConfirmMode::Auto,
        value_name = "MODE"
    )]
    pub confirm: ConfirmMode,
}

impl GuardrailArgs {
    /// The checked policy, or what to fix.
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        Ok(Policy {
            tools: ToolScope::new(self.read_only, &self.tools, &self.exclude_tools)?,
            keys: KeyScope::new(&self.keys)?,
            confirm: self.confirm,
        })
    }
}
