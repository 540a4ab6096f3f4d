//! `--sandbox` stands alone: it serves against the built-in emulator, so a
//! setting that points at the real OSC means the operator is confused about
//! which one they are talking to.

use super::serve::ServeArgs;
use super::token::osc_token_vars_set;

impl ServeArgs {
    /// With `--sandbox`, the settings that must go, in words naming each; None
    /// when there are none (or no sandbox).
    pub fn sandbox_conflicts(&self) -> Option<Vec<String>> {
        if !self.sandbox {
            return None;
        }
        let mut found: Vec<String> = Vec::new();
        if self
            .api_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
        {
            found.push("--api-url (OSC_API_URL)".to_owned());
        }
        if self.environment_given {
            found.push("--environment (OSC_ENVIRONMENT)".to_owned());
        }
        if self.state.state_dir.is_some() {
            found.push("--state-dir (OSC_MCP_STATE_DIR)".to_owned());
        }
        if self.state.state_key_file.is_some() {
            found.push("--state-key-file (OSC_MCP_STATE_KEY_FILE)".to_owned());
        }
        if self.state.redis_url.as_ref().is_some_and(|u| !u.is_blank()) {
            found.push("--redis-url (OSC_MCP_REDIS_URL)".to_owned());
        }
        found.extend(osc_token_vars_set().into_iter().map(str::to_owned));
        (!found.is_empty()).then_some(found)
    }
}
