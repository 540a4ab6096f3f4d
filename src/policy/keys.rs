//! `--keys`: glob patterns limiting which keys every tool may act on.
//!
//! A pattern is matched against the whole key, case-sensitively, with the
//! `globset` crate. No wildcard crosses a dot: `*` matches any run of
//! characters within one dot-separated segment (`user.*` matches `user.a`,
//! not `user.a.b`), `?` one character other than a dot, and `[...]` /
//! `[!...]` one character of (or not of) a class, never a dot. `**` as a
//! whole segment matches any number of segments: `user.**` matches
//! `user.a` and `user.a.b`, and `user.**.token` matches `user.token` and
//! `user.ci.token`. Braces and backslashes are not supported (the comma
//! separates patterns). A key that no pattern matches is not listed and
//! no tool acts on it.
//!
//! Dots become globset's path separator: keys hold no `/`, so `user.a.b`
//! is matched as `user/a/b` with `literal_separator` on.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::error::{PolicyError, ordinal};
use crate::domain::Key;

/// The key patterns in force; the default allows every key.
#[derive(Debug, Clone, Default)]
pub struct KeyScope {
    /// None: no `--keys`, every key allowed.
    set: Option<GlobSet>,
    /// The patterns as given (trimmed), for the agent's instructions.
    patterns: Vec<String>,
}

impl KeyScope {
    /// Checks and compiles the patterns; none given allows every key.
    pub fn new(patterns: &[String]) -> Result<Self, PolicyError> {
        if patterns.is_empty() {
            return Ok(KeyScope::default());
        }
        let mut set = GlobSetBuilder::new();
        let mut kept = Vec::with_capacity(patterns.len());
        for (i, raw) in patterns.iter().enumerate() {
            let pattern = raw.trim();
            let bad = |problem: String| PolicyError::BadPattern {
                position: ordinal(i),
                problem,
            };
            check(pattern).map_err(bad)?;
            let glob = GlobBuilder::new(&pattern.replace('.', "/"))
                .literal_separator(true)
                .backslash_escape(false)
                .empty_alternates(false)
                .build()
                .map_err(|e| bad(format!("is not a valid glob ({})", e.kind())))?;
            set.add(glob);
            kept.push(pattern.to_owned());
        }
        let set = set.build().map_err(|e| PolicyError::BadPattern {
            position: "combined".to_owned(),
            problem: format!("set could not be built ({})", e.kind()),
        })?;
        Ok(KeyScope {
            set: Some(set),
            patterns: kept,
        })
    }

    /// True when no `--keys` was given.
    pub fn is_unlimited(&self) -> bool {
        self.set.is_none()
    }

    /// Whether every tool may act on `key`.
    pub fn allows(&self, key: &Key) -> bool {
        self.set
            .as_ref()
            .is_none_or(|set| set.is_match(key.as_str().replace('.', "/")))
    }

    /// The patterns, quoted and joined, when limited.
    pub fn patterns(&self) -> Option<String> {
        self.set.as_ref().map(|_| {
            self.patterns
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

/// What is wrong with one pattern, without quoting it.
fn check(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err(
            "is empty, which would match no key; remove it, or write a pattern such as `user.ci.*`"
                .to_owned(),
        );
    }
    if pattern.len() > crate::domain::MAX_KEY_LEN {
        return Err(format!(
            "is longer than {} bytes, the longest a key can be",
            crate::domain::MAX_KEY_LEN
        ));
    }
    if let Some((at, c)) = pattern.char_indices().find(|(_, c)| !pattern_char(*c)) {
        let what = match c {
            '{' | '}' | ',' => "braces are not supported, since commas separate patterns; write each alternative as its own pattern".to_owned(),
            '\\' => "backslash escapes are not supported; keys hold no wildcard characters to escape".to_owned(),
            _ => "patterns use only the characters of keys (letters, digits, `.`, `-`, `_`) and the wildcards `*`, `?`, `[...]`".to_owned(),
        };
        let shown = if c.is_ascii_graphic() {
            format!("`{c}`")
        } else {
            format!("U+{:04X}", u32::from(c))
        };
        return Err(format!(
            "holds {shown} at byte {at}, which is not allowed: {what}"
        ));
    }
    if pattern.split('.').any(str::is_empty) {
        return Err(
            "has an empty segment (`..`, or a leading or trailing `.`), which no key has"
                .to_owned(),
        );
    }
    let first = pattern.split('.').next().unwrap_or_default();
    let wild = |s: &str| s.contains(['*', '?', '[']);
    if !wild(first) && first != "user" && first != "system" {
        return Err(
            "does not start with `user.` or `system.` (or a wildcard), so it matches no key; write for example `user.ci.*`"
                .to_owned(),
        );
    }
    Ok(())
}

fn pattern_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*' | '?' | '[' | ']' | '!' | '^')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn scope(patterns: &[&str]) -> KeyScope {
        let given: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        KeyScope::new(&given).unwrap()
    }

    fn refused(patterns: &[&str]) -> String {
        let given: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        KeyScope::new(&given).unwrap_err().to_string()
    }

    fn allows(scope: &KeyScope, key: &str) -> bool {
        scope.allows(&Key::check(key).unwrap())
    }

    #[test]
    fn no_patterns_allow_every_key() {
        let all = scope(&[]);
        assert!(all.is_unlimited());
        assert!(allows(&all, "user.a.b.c"));
        assert!(allows(&all, "system.x"));
        assert_eq!(all.patterns(), None);
    }

    #[test]
    fn star_stays_within_one_segment() {
        let s = scope(&["user.*"]);
        assert!(allows(&s, "user.a"));
        assert!(allows(&s, "user.ci-token"));
        assert!(!allows(&s, "user.a.b"));
        assert!(!allows(&s, "system.a"));
        let s = scope(&["user.ci.*"]);
        assert!(allows(&s, "user.ci.github"));
        assert!(!allows(&s, "user.ci"));
        assert!(!allows(&s, "user.ci.github.token"));
        assert!(!allows(&s, "user.cix.github"));
        // `*` inside a segment.
        let s = scope(&["user.ci-*"]);
        assert!(allows(&s, "user.ci-a"));
        assert!(!allows(&s, "user.ci-a.b"));
        // Two stars inside a segment are still one segment.
        let s = scope(&["user.a**"]);
        assert!(allows(&s, "user.abc"));
        assert!(!allows(&s, "user.a.b"));
    }

    #[test]
    fn double_star_segment_crosses_dots() {
        let s = scope(&["user.**"]);
        assert!(allows(&s, "user.a"));
        assert!(allows(&s, "user.a.b.c"));
        assert!(!allows(&s, "system.a"));
        let s = scope(&["user.**.token"]);
        assert!(allows(&s, "user.token"));
        assert!(allows(&s, "user.ci.gh.token"));
        assert!(!allows(&s, "user.ci.token2"));
        let s = scope(&["**"]);
        assert!(allows(&s, "system.a.b"));
    }

    #[test]
    fn exact_keys_question_marks_and_classes() {
        let s = scope(&["user.db-password", "system.*"]);
        assert!(allows(&s, "user.db-password"));
        assert!(!allows(&s, "user.db-password2"));
        assert!(!allows(&s, "user.DB-password"));
        assert!(allows(&s, "system.anything"));
        let s = scope(&["user.key?"]);
        assert!(allows(&s, "user.key1"));
        assert!(!allows(&s, "user.key"));
        assert!(!allows(&s, "user.key12"));
        // `?` never matches the dot.
        let s = scope(&["user.a?b"]);
        assert!(!allows(&s, "user.a.b"));
        let s = scope(&["user.[ab]*"]);
        assert!(allows(&s, "user.apple"));
        assert!(allows(&s, "user.b"));
        assert!(!allows(&s, "user.c"));
        let s = scope(&["user.[!a]*"]);
        assert!(allows(&s, "user.b"));
        assert!(!allows(&s, "user.a"));
        // A class never matches the dot, negated or not.
        let s = scope(&["user.a[!x]b", "user.c[.-z]d"]);
        assert!(!allows(&s, "user.a.b"));
        assert!(!allows(&s, "user.c.d"));
    }

    #[test]
    fn bad_patterns_are_refused_at_start_without_quoting() {
        let said = refused(&["user.ci.*", ""]);
        assert!(
            said.starts_with("the 2nd pattern in --keys (OSC_MCP_KEYS) is empty"),
            "{said}"
        );
        let said = refused(&["  "]);
        assert!(said.contains("is empty"), "{said}");
        let said = refused(&["user.[abc"]);
        assert!(said.contains("is not a valid glob"), "{said}");
        assert!(!said.contains("[abc"), "{said}");
        let said = refused(&["user.{a"]);
        assert!(said.contains("braces are not supported"), "{said}");
        let said = refused(&["user/a"]);
        assert!(said.contains("`/`"), "{said}");
        let said = refused(&["user.a\\*"]);
        assert!(said.contains("backslash"), "{said}");
        let said = refused(&["user..a"]);
        assert!(said.contains("empty segment"), "{said}");
        let said = refused(&["ci.*"]);
        assert!(said.contains("does not start with `user.`"), "{said}");
        let long = format!("user.{}", "a".repeat(300));
        let said = refused(&[long.as_str()]);
        assert!(said.contains("longer than 200"), "{said}");
        assert!(!said.contains("aaaa"), "{said}");
    }

    #[test]
    fn patterns_are_trimmed_and_described() {
        let s = scope(&[" user.ci.* ", "user.gitcred.*"]);
        assert!(allows(&s, "user.ci.x"));
        assert_eq!(
            s.patterns().as_deref(),
            Some("`user.ci.*`, `user.gitcred.*`")
        );
    }
}
