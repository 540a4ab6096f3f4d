//! Why the guardrail settings cannot be used, and how entries are named.

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
