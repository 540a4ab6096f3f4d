//! Which tools are served: `--read-only`, `--tools` and `--exclude-tools`,
//! decided against the tool table [`crate::domain::tool::TOOLS`].
//!
//! Precedence: `--read-only` wins over both lists, and `--exclude-tools`
//! wins over `--tools`. An empty `--tools` means every tool.

use std::collections::BTreeMap;

use super::error::{PolicyError, ordinal};
use crate::domain::tool::{Kind, TOOLS};

/// Why a tool is not served: the rule that turned it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Off {
    /// `--read-only`: the tool's kind is not `Read`.
    ReadOnly,
    /// `--tools` was given and does not name it.
    NotInTools,
    /// `--exclude-tools` names it.
    Excluded,
}

impl Off {
    /// The setting that turned the tool off, as the operator wrote it.
    pub fn flag(self) -> &'static str {
        match self {
            Off::ReadOnly => "--read-only (OSC_MCP_READ_ONLY)",
            Off::NotInTools => "--tools (OSC_MCP_TOOLS)",
            Off::Excluded => "--exclude-tools (OSC_MCP_EXCLUDE_TOOLS)",
        }
    }
}

/// The tools turned off, each with its rule. The default turns none off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolScope {
    off: BTreeMap<&'static str, Off>,
}

impl ToolScope {
    /// Checks the settings against the tool table. Every name in either list
    /// must be a tool of the table (a typo in `--exclude-tools` must not
    /// leave the tool on), and at least one tool must remain.
    pub fn new(read_only: bool, tools: &[String], exclude: &[String]) -> Result<Self, PolicyError> {
        let allow = names(tools, "--tools (OSC_MCP_TOOLS)")?;
        let deny = names(exclude, "--exclude-tools (OSC_MCP_EXCLUDE_TOOLS)")?;
        let mut off = BTreeMap::new();
        for entry in TOOLS {
            let rule = if read_only && entry.kind != Kind::Read {
                Some(Off::ReadOnly)
            } else if deny.contains(&entry.name) {
                Some(Off::Excluded)
            } else if !allow.is_empty() && !allow.contains(&entry.name) {
                Some(Off::NotInTools)
            } else {
                None
            };
            if let Some(rule) = rule {
                off.insert(entry.name, rule);
            }
        }
        // A tool made of others is off wherever one of them is, for the
        // same reason: rotate must not write or materialize where set or
        // materialize may not.
        for entry in TOOLS {
            let part_off = entry.made_of.iter().find_map(|part| off.get(part).copied());
            if let Some(rule) = part_off {
                off.entry(entry.name).or_insert(rule);
            }
        }
        if off.len() == TOOLS.len() {
            let mut rules: Vec<&str> = off.values().map(|r| r.flag()).collect();
            rules.sort_unstable();
            rules.dedup();
            return Err(PolicyError::NoTools {
                why: format!("{} turn off every tool", rules.join(" and ")),
            });
        }
        Ok(ToolScope { off })
    }

    /// Why `name` is off, or None when it is served (or not a tool at all).
    pub fn off(&self, name: &str) -> Option<Off> {
        self.off.get(name).copied()
    }

    /// The names of the tools turned off, sorted.
    pub fn off_names(&self) -> Vec<&'static str> {
        self.off.keys().copied().collect()
    }
}

/// The tool names of one list, each checked against the table.
fn names(given: &[String], flag: &'static str) -> Result<Vec<&'static str>, PolicyError> {
    let known = || TOOLS.iter().map(|e| e.name).collect::<Vec<_>>().join(", ");
    given
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let name = raw.trim();
            if name.is_empty() {
                return Err(PolicyError::EmptyTool {
                    flag,
                    position: ordinal(i),
                    known: known(),
                });
            }
            TOOLS
                .iter()
                .find(|e| e.name == name)
                .map(|e| e.name)
                .ok_or_else(|| PolicyError::UnknownTool {
                    flag,
                    position: ordinal(i),
                    known: known(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Excluding set or materialize, or leaving either out of --tools,
    /// takes rotate with it, naming the same setting.
    #[test]
    fn rotate_goes_where_set_or_materialize_goes() {
        for part in ["set_tenant_secret", "materialize_tenant_secret"] {
            let scope = ToolScope::new(false, &[], &list(&[part])).unwrap();
            assert_eq!(
                scope.off("rotate_tenant_secret"),
                Some(Off::Excluded),
                "{part}"
            );
        }
        let scope = ToolScope::new(
            false,
            &list(&["rotate_tenant_secret", "set_tenant_secret"]),
            &[],
        )
        .unwrap();
        assert_eq!(scope.off("rotate_tenant_secret"), Some(Off::NotInTools));
        assert_eq!(scope.off("set_tenant_secret"), None);
        let all = ToolScope::new(false, &[], &[]).unwrap();
        assert_eq!(all.off("rotate_tenant_secret"), None);
    }

    #[test]
    fn nothing_given_serves_everything() {
        let scope = ToolScope::new(false, &[], &[]).unwrap();
        assert!(scope.off_names().is_empty());
    }

    #[test]
    fn read_only_keeps_only_read_tools_and_wins_over_tools() {
        let scope = ToolScope::new(
            true,
            &list(&["list_tenant_secrets", "set_tenant_secret"]),
            &[],
        )
        .unwrap();
        assert_eq!(
            scope.off_names(),
            [
                "delete_tenant_secret",
                "materialize_tenant_secret",
                "rotate_tenant_secret",
                "set_tenant_secret"
            ]
        );
        assert_eq!(scope.off("set_tenant_secret"), Some(Off::ReadOnly));
        assert_eq!(scope.off("list_tenant_secrets"), None);
    }

    #[test]
    fn exclude_wins_over_tools() {
        let scope = ToolScope::new(
            false,
            &list(&["list_tenant_secrets", " set_tenant_secret "]),
            &list(&["set_tenant_secret"]),
        )
        .unwrap();
        assert_eq!(scope.off("set_tenant_secret"), Some(Off::Excluded));
        assert_eq!(scope.off("delete_tenant_secret"), Some(Off::NotInTools));
        assert_eq!(scope.off("list_tenant_secrets"), None);
    }

    #[test]
    fn unknown_and_empty_names_are_refused_without_quoting_them() {
        let err = ToolScope::new(
            false,
            &[],
            &list(&["list_tenant_secrets", "Set_Tenant_Secret"]),
        )
        .unwrap_err();
        let said = err.to_string();
        assert!(
            said.starts_with("the 2nd name in --exclude-tools"),
            "{said}"
        );
        assert!(
            said.ends_with(
                "delete_tenant_secret, list_tenant_secrets, materialize_tenant_secret, rotate_tenant_secret, set_tenant_secret"
            ),
            "{said}"
        );
        assert!(!said.contains("Set_Tenant_Secret"), "{said}");
        let err = ToolScope::new(false, &list(&["list_tenant_secrets", ""]), &[]).unwrap_err();
        assert!(matches!(err, PolicyError::EmptyTool { .. }), "{err}");
    }

    #[test]
    fn serving_nothing_is_refused() {
        let err = ToolScope::new(true, &list(&["set_tenant_secret"]), &[]).unwrap_err();
        assert!(matches!(err, PolicyError::NoTools { .. }), "{err}");
        let err = ToolScope::new(
            false,
            &[],
            &list(&[
                "delete_tenant_secret",
                "list_tenant_secrets",
                "materialize_tenant_secret",
                "rotate_tenant_secret",
                "set_tenant_secret",
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--exclude-tools"), "{err}");
    }
}
