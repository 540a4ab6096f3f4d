//! Values the operator put in the server's environment, named by the model
//! and read on the server: the model sees the name, never the value. Only
//! names the operator allowed at start (`--allow-env`) can be read.

use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;

use crate::domain::vars::{
    AUTH_TOKEN_VAR, PAGE_SECRET_VAR, REDIS_URL_VAR, TOKEN_FILE_VAR, TOKEN_VARS,
};

/// Variables that hold (or point at) this server's own credentials: never
/// readable through `fromEnv`, whatever the allow list says.
/// Compared without regard to ASCII case: on some systems `osc_access_token`
/// names the same variable, and nowhere is it a name an operator means to
/// hand to the model.
pub fn protected(name: &str) -> bool {
    own_variables().any(|own| own.eq_ignore_ascii_case(name))
}

fn own_variables() -> impl Iterator<Item = &'static str> {
    TOKEN_VARS.iter().copied().chain([
        AUTH_TOKEN_VAR,
        TOKEN_FILE_VAR,
        PAGE_SECRET_VAR,
        REDIS_URL_VAR,
    ])
}

/// Longest variable name accepted.
const MAX_NAME_LEN: usize = 128;

/// One entry of `--allow-env`: a name, or a prefix followed by `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvPattern {
    Exact(String),
    Prefix(String),
}

/// Why an `--allow-env` entry was refused. The message never repeats the
/// entry: what was typed on a command line may be a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(
        "each entry is a variable name of letters, digits and `_` (not starting with a digit), \
         or such a name followed by `*` to allow every variable that starts with it, for example \
         `--allow-env DB_PASSWORD,APP_SECRET_*`"
    )]
    Shape,
    #[error(
        "an entry names or matches one of this server's own credential variables \
         (OSC_ACCESS_TOKEN, OSC_PAT_JWT, OSC_ACCESS_TOKEN_FILE, MCP_AUTH_TOKEN, \
         MCP_OAUTH_PAGE_CLIENT_SECRET, OSC_MCP_REDIS_URL), which can never be \
         read through fromEnv; use a narrower name or prefix"
    )]
    Protected,
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_NAME_LEN
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl EnvPattern {
    /// Parses one entry, refusing any that could ever allow a protected
    /// variable: the operator learns at start, not when a call fails.
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        let raw = raw.trim();
        let pattern = match raw.strip_suffix('*') {
            Some(prefix) if is_name(prefix) => EnvPattern::Prefix(prefix.to_owned()),
            Some(_) => return Err(PatternError::Shape),
            None if is_name(raw) => EnvPattern::Exact(raw.to_owned()),
            None => return Err(PatternError::Shape),
        };
        if own_variables().any(|name| pattern.matches_any_case(name)) {
            return Err(PatternError::Protected);
        }
        Ok(pattern)
    }

    /// Whether the pattern would match `name` if ASCII case did not count.
    fn matches_any_case(&self, name: &str) -> bool {
        match self {
            EnvPattern::Exact(exact) => name.eq_ignore_ascii_case(exact),
            EnvPattern::Prefix(prefix) => name
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix)),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            EnvPattern::Exact(exact) => name == exact,
            EnvPattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }
}

impl fmt::Display for EnvPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvPattern::Exact(name) => f.write_str(name),
            EnvPattern::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

type Lookup = Arc<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

/// The names `fromEnv` may read, and where it reads them from (the process
/// environment, unless a test gives another source).
#[derive(Clone)]
pub struct EnvAllowlist {
    patterns: Vec<EnvPattern>,
    lookup: Lookup,
}

impl Default for EnvAllowlist {
    fn default() -> Self {
        EnvAllowlist::new(Vec::new())
    }
}

impl fmt::Debug for EnvAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvAllowlist")
            .field("patterns", &self.patterns)
            .finish_non_exhaustive()
    }
}

/// The one refusal for a name that is not allowed, the same words whether or
/// not such a variable exists, so a refusal reveals nothing about the
/// environment.
pub const NOT_ALLOWED: &str = "the variable named in `fromEnv` is not one the operator allowed this server to read \
(the operator allows variables with --allow-env or OSC_MCP_ALLOW_ENV; none are allowed unless they do). \
Use `generate` instead to have the server make the value, or ask the operator to allow the variable";

impl EnvAllowlist {
    /// Reads the process environment.
    pub fn new(patterns: Vec<EnvPattern>) -> Self {
        EnvAllowlist {
            patterns,
            lookup: Arc::new(|name| std::env::var_os(name)),
        }
    }

    /// Reads `lookup` instead of the process environment (for tests).
    pub fn with_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<OsString> + Send + Sync + 'static,
    ) -> Self {
        self.lookup = Arc::new(lookup);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `name` may be read: a plain variable name (so that it can be
    /// shown back as it is), not a protected one, and matched by an entry.
    pub fn allows(&self, name: &str) -> bool {
        is_name(name) && !protected(name) && self.patterns.iter().any(|p| p.matches(name))
    }

    /// The value of the variable `name`, or the refusal (without the value,
    /// and identical for every name that is not allowed).
    pub fn read(&self, name: &str) -> Result<SecretString, String> {
        if !self.allows(name) {
            return Err(NOT_ALLOWED.to_owned());
        }
        let Some(value) = (self.lookup)(name) else {
            return Err(format!(
                "`{name}` is allowed but not set in the server's environment. \
                 Ask the operator to set it and restart the server, or use `generate` instead"
            ));
        };
        let Ok(value) = value.into_string() else {
            return Err(format!(
                "`{name}` holds bytes that are not UTF-8 text, which OSC cannot store. Ask the operator to fix it"
            ));
        };
        Ok(SecretString::from(value))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn patterns_parse_and_match() {
        assert_eq!(
            EnvPattern::parse("APP_SECRET_*"),
            Ok(EnvPattern::Prefix("APP_SECRET_".to_owned()))
        );
        assert!(
            EnvPattern::parse("APP_SECRET_*")
                .unwrap()
                .matches("APP_SECRET_DB")
        );
        assert!(
            !EnvPattern::parse("DB_PASSWORD")
                .unwrap()
                .matches("DB_PASSWORD2")
        );
        for bad in ["", "*", "A*B", "1ABC", "A-B", "A B", "**"] {
            assert_eq!(EnvPattern::parse(bad), Err(PatternError::Shape), "{bad}");
        }
        for guarded in [
            "OSC_*",
            "OSC_ACCESS_TOKEN",
            "OSC_PAT_*",
            "MCP_*",
            "MCP_AUTH_TOKEN",
            "O*",
        ] {
            assert_eq!(
                EnvPattern::parse(guarded),
                Err(PatternError::Protected),
                "{guarded}"
            );
        }
        assert!(EnvPattern::parse("OSC_APP_*").is_ok());
    }

    /// The server's own credential variables are refused whatever the case
    /// the operator wrote them in, as names and as prefixes.
    #[test]
    fn own_credentials_are_refused_in_any_case() {
        for entry in [
            "osc_access_token",
            "Osc_Pat_Jwt",
            "mcp_auth_token",
            "osc_*",
            "Mcp_Auth*",
        ] {
            assert_eq!(
                EnvPattern::parse(entry),
                Err(PatternError::Protected),
                "{entry}"
            );
        }
        assert!(protected("osc_access_token_file"));
        // The page client's secret, and a Redis URL that may carry a
        // password, are credentials too.
        assert!(protected("MCP_OAUTH_PAGE_CLIENT_SECRET"));
        assert!(protected("OSC_MCP_REDIS_URL"));
        assert_eq!(
            EnvPattern::parse("MCP_OAUTH_*"),
            Err(PatternError::Protected)
        );
        assert_eq!(
            EnvPattern::parse("OSC_MCP_RED*"),
            Err(PatternError::Protected)
        );
        assert!(!protected("OSC_ACCESS"));
        assert!(EnvPattern::parse("OSCAR_KEY").is_ok());
    }

    #[test]
    fn protected_names_are_refused_at_call_time_too() {
        // Built by hand, past the parser, as a later change might.
        let list = EnvAllowlist::new(vec![EnvPattern::Prefix("OSC_".to_owned())])
            .with_lookup(|_| Some(OsString::from("canary-token")));
        assert_eq!(
            list.read("OSC_ACCESS_TOKEN").err().as_deref(),
            Some(NOT_ALLOWED)
        );
        assert_eq!(list.read("OSC_PAT_JWT").err().as_deref(), Some(NOT_ALLOWED));
        assert!(list.read("OSC_OTHER").is_ok());
    }
}
