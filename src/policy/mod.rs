//! Guardrails the operator sets at start (`--read-only`, `--tools`,
//! `--exclude-tools`, `--keys`, `--confirm`): which tools are served, which
//! keys they may act on, and when a human confirms what cannot be undone. Checked once at start; applied by the handler, so stdio and
//! every HTTP transport behave the same.

mod error;
mod keys;
pub mod rates;
mod scope;

pub use error::PolicyError;
pub use keys::KeyScope;
pub use rates::RateLimits;
pub use scope::{Off, ToolScope};

/// When a human confirms a delete, or a write that replaces an existing
/// key, by typing the key (the confirmation step of a tool call).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfirmMode {
    /// Ask when the client can be asked; proceed otherwise.
    #[default]
    Auto,
    /// Ask; refuse when the client cannot be asked.
    Always,
    /// Never ask.
    Never,
}

/// Every guardrail, checked. The default serves every tool on every key and
/// asks for confirmation when the client can be asked.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub tools: ToolScope,
    pub keys: KeyScope,
    pub confirm: ConfirmMode,
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
        if let Some(patterns) = self.keys.patterns() {
            lines.push(format!(
                "The operator limited every tool to keys matching {patterns}; other keys are not listed and cannot be set, rotated, deleted or materialized."
            ));
        }
        match self.confirm {
            ConfirmMode::Auto => {}
            ConfirmMode::Always => lines.push(
                "The operator requires a human to confirm every delete and every write that replaces an existing key, by typing the key in a form; clients that cannot show forms cannot make those changes.".to_owned(),
            ),
            ConfirmMode::Never => lines.push(
                "The operator turned confirmation off: deletes and replacing writes take effect without asking a human.".to_owned(),
            ),
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::error::ordinal;
    use super::{ConfirmMode, Policy};

    #[test]
    fn the_summary_names_the_confirm_mode_unless_auto() {
        let with = |confirm| Policy {
            confirm,
            ..Policy::default()
        };
        assert!(with(ConfirmMode::Auto).summary().is_empty());
        let always = with(ConfirmMode::Always).summary().join(" ");
        assert!(always.contains("confirm every delete"), "{always}");
        let never = with(ConfirmMode::Never).summary().join(" ");
        assert!(never.contains("turned confirmation off"), "{never}");
    }

    /// The `--keys` sentence names every tool that acts on a key.
    #[test]
    fn the_summary_of_a_key_scope_names_every_keyed_tool() {
        let policy = Policy {
            keys: super::KeyScope::new(&["user.ci.*".to_owned()]).expect("a valid pattern"),
            ..Policy::default()
        };
        let said = policy.summary().join(" ");
        for verb in ["listed", "set", "rotated", "deleted", "materialized"] {
            assert!(said.contains(verb), "{verb}: {said}");
        }
    }

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
