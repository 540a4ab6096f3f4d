//! Input rules, checked before any request is sent to OSC.
//!
//! Every refusal names the rule that was broken so the model can correct its
//! call. Keys, service ids and secret names are not secret, so they may be
//! echoed (escaped); values never are.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Longest tenant-secret key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 200;
/// Longest service id accepted.
pub const MAX_SERVICE_ID_LEN: usize = 128;
/// Longest service secret name accepted (one OSC client caps names at 48).
pub const MAX_SECRET_NAME_LEN: usize = 48;
/// Largest secret value accepted, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Longest `contains` filter accepted.
pub const MAX_FILTER_LEN: usize = 200;

/// A broken input rule, phrased for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Which argument was wrong.
    pub field: &'static str,
    /// What rule it broke and how to fix it.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for InputError {}

fn refuse(field: &'static str, message: impl Into<String>) -> InputError {
    InputError {
        field,
        message: message.into(),
    }
}

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
            return Err(refuse(
                "key",
                format!(
                    "`{}` is a platform key: OSC writes `system.*` keys itself and the tenant cannot {action} them. \
                     You can still materialize it into a service with materialize_tenant_secret. \
                     To store your own secret, use a `user.` key.",
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

/// An OSC service id, such as `eyevinn-my-service`.
pub fn service_id(raw: &str) -> Result<&str, InputError> {
    const F: &str = "serviceId";
    if raw.is_empty() {
        return Err(refuse(
            F,
            "is empty; give the id of the service instance, such as `eyevinn-my-service`",
        ));
    }
    if raw.len() > MAX_SERVICE_ID_LEN {
        return Err(refuse(
            F,
            format!(
                "is {} bytes long; the limit is {MAX_SERVICE_ID_LEN}",
                raw.len()
            ),
        ));
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(refuse(
            F,
            format!(
                "{} contains {}; service ids use lowercase letters, digits and `-` (for example `eyevinn-my-service`)",
                quoted(raw),
                describe_char(c)
            ),
        ));
    }
    if raw.starts_with('-') || raw.ends_with('-') {
        return Err(refuse(
            F,
            format!("{} must not start or end with `-`", quoted(raw)),
        ));
    }
    Ok(raw)
}

/// A service secret name, the `NAME` of the reference `{{secrets.NAME}}`.
pub fn secret_name(raw: &str) -> Result<&str, InputError> {
    const F: &str = "secretName";
    if raw.is_empty() {
        return Err(refuse(
            F,
            "is empty; give a short lowercase name such as `apikey`; the service will refer to it as `{{secrets.apikey}}`",
        ));
    }
    if raw.len() > MAX_SECRET_NAME_LEN {
        return Err(refuse(
            F,
            format!(
                "is {} characters long; the limit is {MAX_SECRET_NAME_LEN}",
                raw.len()
            ),
        ));
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
    {
        return Err(refuse(
            F,
            format!(
                "{} contains {}; OSC service secret names are lowercase letters and digits only (for example `apikey`)",
                quoted(raw),
                describe_char(c)
            ),
        ));
    }
    Ok(raw)
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

/// Checks a secret value without ever putting it into the message.
pub fn value(value: &SecretString) -> Result<(), InputError> {
    let text = value.expose_secret();
    if text.is_empty() {
        return Err(refuse(
            "value",
            "is empty; OSC stores non-empty values. To remove a secret, use delete_tenant_secret",
        ));
    }
    if text.len() > MAX_VALUE_LEN {
        return Err(refuse(
            "value",
            format!(
                "is {} bytes; the limit is {MAX_VALUE_LEN} bytes",
                text.len()
            ),
        ));
    }
    if text.contains('\0') {
        return Err(refuse(
            "value",
            "contains a NUL character, which OSC cannot store",
        ));
    }
    Ok(())
}

/// Quotes a non-secret input for an error message, escaping anything unprintable.
pub fn quoted(raw: &str) -> String {
    const SHOWN: usize = 80;
    let mut out = String::from("`");
    for (i, c) in raw.chars().enumerate() {
        if i == SHOWN {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('`');
    out
}

fn describe_char(c: char) -> String {
    match c {
        '/' => "a slash".to_owned(),
        c if c.is_whitespace() => format!("whitespace (U+{:04X})", c as u32),
        c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
        c if c.is_ascii() => format!("`{c}`"),
        c => format!("the non-ASCII character U+{:04X}", c as u32),
    }
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

    #[test]
    fn service_shapes() {
        assert!(service_id("eyevinn-my-service").is_ok());
        assert!(service_id("Eyevinn").is_err());
        assert!(service_id("-x").is_err());
        assert!(secret_name("apikey").is_ok());
        assert!(secret_name("api-key").is_err());
        assert!(secret_name(&"a".repeat(49)).is_err());
    }

    #[test]
    fn value_errors_never_echo_the_value() {
        let canary = format!("canary{}", "x".repeat(MAX_VALUE_LEN));
        let err = value(&SecretString::from(canary))
            .err()
            .map(|e| e.to_string());
        assert!(err.as_deref().is_some_and(|e| !e.contains("canary")));
        assert!(value(&SecretString::from("ok")).is_ok());
        assert!(value(&SecretString::from("")).is_err());
    }
}
