//! Secret values as they arrive in tool arguments, and their limits.

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::error::{InputError, refuse};

/// Largest secret value accepted, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// A secret value as it arrives in tool arguments. It becomes a
/// `SecretString` during deserialization and never fails there, so that no
/// serde error message can quote it; the tool checks what arrived.
pub enum SecretArg {
    Text(SecretString),
    /// Not a JSON string; holds only the JSON type's name.
    NotText(&'static str),
}

impl<'de> Deserialize<'de> for SecretArg {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SecretArg;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<SecretArg, E> {
                Ok(SecretArg::Text(SecretString::from(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<SecretArg, E> {
                Ok(SecretArg::Text(SecretString::from(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("a number"))
            }
            fn visit_unit<E>(self) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("null"))
            }
            fn visit_none<E>(self) -> Result<SecretArg, E> {
                Ok(SecretArg::NotText("null"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SecretArg, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(SecretArg::NotText("an array"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SecretArg, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(SecretArg::NotText("an object"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for SecretArg {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretValue".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // `writeOnly`: sent, never returned. The argument check reads it and
        // never quotes such an argument's content.
        schemars::json_schema!({ "type": "string", "writeOnly": true })
    }
}

impl SecretArg {
    pub fn into_secret(self) -> Result<SecretString, InputError> {
        match self {
            SecretArg::Text(v) => {
                value(&v)?;
                Ok(v)
            }
            SecretArg::NotText(kind) => Err(InputError {
                field: "value",
                message: format!(
                    "must be a string, got {kind}; send the secret as a JSON string, in quotes, \
                     since a JSON number can lose digits"
                ),
            }),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
