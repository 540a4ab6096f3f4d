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

impl Key {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        const F: &str = "key";
        if raw.is_empty() {
            return Err(refuse(F, "is empty; give a key such as `user.my-api-key`"));
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(refuse(
                F,
                format!("is {} bytes long; the limit is {MAX_KEY_LEN}", raw.len()),
            ));
        }
        if let Some(c) = raw.chars().find(|c| !is_key_char(*c)) {
            return Err(refuse(
                F,
                format!(
                    "{} contains {}, which is not allowed; keys use only letters, digits, `.`, `-` and `_`",
                    quoted(raw),
                    describe_char(c)
                ),
            ));
        }
        let (owner, name) = if let Some(name) = raw.strip_prefix("user.") {
            (Owner::User, name)
        } else if let Some(name) = raw.strip_prefix("system.") {
            (Owner::System, name)
        } else {
            return Err(refuse(
                F,
                format!(
                    "{} must start with `user.` (your keys) or `system.` (platform keys), for example `user.{}`",
                    quoted(raw),
                    raw.trim_start_matches('.')
                ),
            ));
        };
        if name.is_empty() {
            return Err(refuse(
                F,
                format!(
                    "{} has no name after the prefix; use for example `{}my-api-key`",
                    quoted(raw),
                    &raw[..raw.len() - name.len()]
                ),
            ));
        }
        if name.contains("..") || name.starts_with('.') || name.ends_with('.') {
            return Err(refuse(
                F,
                format!(
                    "{} has an empty segment (`..`, or a leading or trailing `.`); dots separate non-empty parts",
                    quoted(raw)
                ),
            ));
        }
        Ok(Key {
            text: raw.to_owned(),
            owner,
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
