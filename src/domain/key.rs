//! Tenant-secret keys and their owners.

use std::fmt;

use super::error::{InputError, refuse};
use super::text::{describe_char, quoted};

/// Longest tenant-secret key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 200;
/// Longest `contains` filter accepted.
pub const MAX_FILTER_LEN: usize = 200;
/// Who owns a key, from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// `user.*`: the tenant's own keys.
    User,
    /// `system.*`: written by the platform; may only be materialized.
    System,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::User => "user",
            Owner::System => "system",
        }
    }

    /// Parses the `prefix` filter of `list_tenant_secrets`.
    pub fn parse_filter(raw: &str) -> Result<Self, InputError> {
        match raw.trim().trim_end_matches('.') {
            "user" => Ok(Owner::User),
            "system" => Ok(Owner::System),
            _ => Err(refuse(
                "prefix",
                format!(
                    "must be `user` or `system`, got {}; omit it to list every key",
                    quoted(raw)
                ),
            )),
        }
    }
}

/// A tenant-secret key that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    text: String,
    owner: Owner,
}

/// Which key rule a text breaks, without the text itself: the list tool
/// counts OSC's unusable keys by this and never echoes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyFault {
    Empty,
    TooLong,
    BadChar,
    NoPrefix,
    NoName,
    EmptySegment,
}

impl KeyFault {
    /// A short phrase, for "N keys left out: PHRASE".
    pub fn reason(self) -> &'static str {
        match self {
            KeyFault::Empty => "empty key",
            KeyFault::TooLong => "longer than 200 bytes",
            KeyFault::BadChar => "characters other than letters, digits, `.`, `-` and `_`",
            KeyFault::NoPrefix => "no `user.` or `system.` prefix",
            KeyFault::NoName => "no name after the prefix",
            KeyFault::EmptySegment => "an empty segment",
        }
    }
}

impl Key {
    /// Checks every key rule and says which one broke, quoting nothing.
    /// Rules run cheapest first: a 10 KB name is refused on its length.
    pub fn check(raw: &str) -> Result<Self, KeyFault> {
        if raw.is_empty() {
            return Err(KeyFault::Empty);
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(KeyFault::TooLong);
        }
        if !raw.chars().all(is_key_char) {
            return Err(KeyFault::BadChar);
        }
        let (owner, name) = if let Some(name) = raw.strip_prefix("user.") {
            (Owner::User, name)
        } else if let Some(name) = raw.strip_prefix("system.") {
            (Owner::System, name)
        } else {
            return Err(KeyFault::NoPrefix);
        };
        if name.is_empty() {
            return Err(KeyFault::NoName);
        }
        if name.contains("..") || name.starts_with('.') || name.ends_with('.') {
            return Err(KeyFault::EmptySegment);
        }
        Ok(Key {
            text: raw.to_owned(),
            owner,
        })
    }

    /// [`Key::check`], with a refusal that says how to fix the input.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        const F: &str = "key";
        let fault = match Key::check(raw) {
            Ok(key) => return Ok(key),
            Err(fault) => fault,
        };
        Err(match fault {
            KeyFault::Empty => refuse(F, "is empty; give a key such as `user.my-api-key`"),
            KeyFault::TooLong => refuse(
                F,
                format!("is {} bytes long; the limit is {MAX_KEY_LEN}", raw.len()),
            ),
            KeyFault::BadChar => {
                let c = raw.chars().find(|c| !is_key_char(*c)).unwrap_or('?');
                refuse(
                    F,
                    format!(
                        "{} contains {}, which is not allowed; keys use only letters, digits, `.`, `-` and `_`",
                        quoted(raw),
                        describe_char(c)
                    ),
                )
            }
            KeyFault::NoPrefix => refuse(
                F,
                format!(
                    "{} must start with `user.` (your keys) or `system.` (platform keys), for example `user.{}`",
                    quoted(raw),
                    raw.trim_start_matches('.')
                ),
            ),
            KeyFault::NoName => refuse(
                F,
                format!(
                    "{} has no name after the prefix; use for example `{}my-api-key`",
                    quoted(raw),
                    raw
                ),
            ),
            KeyFault::EmptySegment => refuse(
                F,
                format!(
                    "{} has an empty segment (`..`, or a leading or trailing `.`); dots separate non-empty parts",
                    quoted(raw)
                ),
            ),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// Refuses `system.*` keys for writes and deletes: the platform owns them.
    pub fn writable(self, action: &str) -> Result<Self, InputError> {
        if self.owner == Owner::System {
            // No closing period: the refusal adds it.
            let instead = if action == "delete" {
                "Only `user.*` keys can be deleted"
            } else {
                "To store your own secret, use a `user.` key"
            };
            return Err(refuse(
                "key",
                format!(
                    "`{}` is a platform key: OSC writes `system.*` keys itself and the tenant cannot {action} them. \
                     You can still materialize it into a service with materialize_tenant_secret. {instead}",
                    self.text
                ),
            ));
        }
        Ok(self)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}
/// The `contains` filter of `list_tenant_secrets`.
pub fn filter(raw: &str) -> Result<&str, InputError> {
    if raw.len() > MAX_FILTER_LEN {
        return Err(refuse(
            "contains",
            format!("is {} bytes long; the limit is {MAX_FILTER_LEN}", raw.len()),
        ));
    }
    if let Some(c) = raw.chars().find(|c| !is_key_char(*c)) {
        return Err(refuse(
            "contains",
            format!(
                "contains {}; keys only hold letters, digits, `.`, `-` and `_`, so no key could match",
                describe_char(c)
            ),
        ));
    }
    Ok(raw)
}

/// The `after` cursor of `list_tenant_secrets`: the last key of the previous
/// page. It need not exist any more, but it can only hold key characters.
pub fn cursor(raw: &str) -> Result<&str, InputError> {
    if raw.len() > MAX_KEY_LEN {
        return Err(refuse(
            "after",
            format!(
                "is {} bytes long; give the last key of the previous page (`nextAfter`), at most {MAX_KEY_LEN} bytes",
                raw.len()
            ),
        ));
    }
    if let Some(c) = raw.chars().find(|c| !is_key_char(*c)) {
        return Err(refuse(
            "after",
            format!(
                "contains {}; give the last key of the previous page, exactly as `nextAfter` said",
                describe_char(c)
            ),
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_rules() {
        assert_eq!(
            Key::parse("user.my-api-key").map(|k| k.owner()),
            Ok(Owner::User)
        );
        assert_eq!(
            Key::parse("system.gitea_token").map(|k| k.owner()),
            Ok(Owner::System)
        );
        assert!(Key::parse("user.gitcred.my-github-token").is_ok());
        for bad in [
            "",
            "user.",
            "system.",
            "apikey",
            "users.x",
            "user..x",
            "user.x.",
            "user.a/b",
            "user.a b",
            "user.a\u{200b}",
            "user.\u{7}",
            "user.é",
        ] {
            assert!(Key::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Key::parse(&format!("user.{}", "a".repeat(MAX_KEY_LEN))).is_err());
    }

    #[test]
    fn check_names_the_rule_without_the_text() {
        assert_eq!(Key::check(""), Err(KeyFault::Empty));
        assert_eq!(Key::check(&"u".repeat(10_000)), Err(KeyFault::TooLong));
        assert_eq!(Key::check("user.a\u{202e}b"), Err(KeyFault::BadChar));
        assert_eq!(Key::check("user.a\u{1b}[31m"), Err(KeyFault::BadChar));
        assert_eq!(Key::check("admin.x"), Err(KeyFault::NoPrefix));
        assert_eq!(Key::check("system."), Err(KeyFault::NoName));
        assert_eq!(Key::check("user.a..b"), Err(KeyFault::EmptySegment));
        assert!(Key::check("user.ok").is_ok());
        assert!(cursor("user.a-b").is_ok());
        assert!(cursor("user.a\nb").is_err());
    }

    #[test]
    fn system_keys_are_not_writable() {
        let err = Key::parse("system.x")
            .and_then(|k| k.writable("delete"))
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(err.contains("materialize"), "{err}");
        assert!(Key::parse("user.x").and_then(|k| k.writable("set")).is_ok());
    }
}
