//! Guardrails the operator sets at start (`--read-only`, `--tools`,
//! `--exclude-tools`, `--keys`): which tools are served and which keys they
//! may act on. Checked once at start; applied by the handler, so stdio and
//! every HTTP transport behave the same.

mod keys;
mod scope;

pub use keys::KeyScope;
pub use scope::{Off, ToolScope};

/// Why the guardrail settings cannot be used, in words for the operator.
/// Never quotes what was typed (it may have been a credential pasted into
/// the wrong flag): entries are named by their position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "the {position} name in {flag} is not a tool of this server (names are exact and lowercase); the tools are: {known}"
    )]
    UnknownTool {
        flag: &'static str,
        position: String,
        known: String,
    },
    #[error(
        "the {position} name in {flag} is empty; give tool names separated by commas, from: {known}"
    )]
    EmptyTool {
        flag: &'static str,
        position: String,
        known: String,
    },
    #[error(
        "no tool is left to serve: {why}. Loosen --tools, --exclude-tools or --read-only so at least one tool remains"
    )]
    NoTools { why: String },
    #[error("the {position} pattern in --keys (OSC_MCP_KEYS) {problem}")]
    BadPattern { position: String, problem: String },
}

/// Every guardrail, checked. The default serves every tool on every key.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub tools: ToolScope,
    pub keys: KeyScope,
}

impl Policy {
    /// One line per guardrail in force, for the agent's instructions and the
    /// operator's start-up line; empty when none is.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let off = self.tools.off_names();
        if !off.is_empty() {
            lines.push(format!(
                "The operator turned off these tools on this server: {}.",
                off.join(", ")
            ));
        }
        if let Some(patterns) = self.keys.describe() {
            lines.push(format!(
                "The operator limited every tool to keys matching {patterns}; other keys are not listed and cannot be set, deleted or materialized."
            ));
        }
        lines
    }
}

/// "1st", "2nd", "3rd", "4th", … for naming an entry without quoting it.
pub(crate) fn ordinal(index: usize) -> String {
    let n = index.saturating_add(1);
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::ordinal;

    #[test]
    fn ordinals() {
        let got: Vec<String> = [0, 1, 2, 3, 10, 11, 12, 20, 21, 22, 100, 111]
            .iter()
            .map(|i| ordinal(*i))
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
                "101st", "112th"
            ]
        );
    }
}
