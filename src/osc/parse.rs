//! Tolerant reading of OSC's answers. Only the fields this server needs are
//! read, so a value in an answer is never kept.

use secrecy::SecretString;
use serde::Deserialize;

use super::error::OscError;
use crate::redact;

/// One key as OSC lists it. Never carries a value: the list parser reads only
/// these fields, whatever else the answer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEntry {
    pub key: String,
    pub prefix: Option<String>,
    pub updated_at: Option<String>,
}

/// What a write did, as far as OSC said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// OSC answered 201, or the request could only create.
    Created,
    /// OSC answered with a 2xx that does not say whether the key existed.
    Written,
}

/// The answer to a materialize call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Materialized {
    pub reference: String,
    /// False when OSC's answer held no usable reference and the documented
    /// `{{secrets.NAME}}` form was built instead.
    pub from_osc: bool,
}
/// Reads an upstream error body tolerantly (`message`, then `reason`, then the
/// raw text) and scrubs it of the token and the value sent.
pub(super) fn error_detail(body: &[u8], token: &SecretString, value: &SecretString) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<serde_json::Value>,
        reason: Option<serde_json::Value>,
    }
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(serde_json::Value::String(m)),
            ..
        }) => m,
        Ok(ErrorBody {
            reason: Some(serde_json::Value::String(r)),
            ..
        }) => r,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    redact::scrub(&text, &[token, value])
}

pub(super) fn parse_list(body: &[u8]) -> Result<Vec<SecretEntry>, OscError> {
    // Only these fields are read, so a value in the answer is never kept.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Item {
        key: Option<serde_json::Value>,
        prefix: Option<serde_json::Value>,
        updated_at: Option<serde_json::Value>,
    }
    let decode = |what: &str| OscError::Decode {
        what: what.to_owned(),
    };
    let root: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| decode("the key list is not JSON"))?;
    let items = match root {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut map) => ["secrets", "items", "data", "keys"]
            .iter()
            .find_map(|name| match map.remove(*name) {
                Some(serde_json::Value::Array(items)) => Some(items),
                _ => None,
            })
            .ok_or_else(|| decode("the key list holds no array of keys"))?,
        _ => return Err(decode("the key list is neither an array nor an object")),
    };
    let text = |v: Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Ok(items
        .into_iter()
        .filter_map(|item| {
            let item: Item = match item {
                serde_json::Value::String(key) => Item {
                    key: Some(serde_json::Value::String(key)),
                    prefix: None,
                    updated_at: None,
                },
                other => serde_json::from_value(other).ok()?,
            };
            Some(SecretEntry {
                key: text(item.key)?,
                prefix: text(item.prefix),
                updated_at: text(item.updated_at),
            })
        })
        .collect())
}

pub(super) fn parse_reference(body: &[u8], secret_name: &str) -> Materialized {
    #[derive(Deserialize)]
    struct Reply {
        reference: Option<String>,
    }
    let documented = format!("{{{{secrets.{secret_name}}}}}");
    match serde_json::from_slice::<Reply>(body) {
        Ok(Reply {
            reference: Some(reference),
        }) if reference.starts_with("{{secrets.")
            && reference.ends_with("}}")
            && reference.len() <= documented.len() + 64 =>
        {
            Materialized {
                reference,
                from_osc: true,
            }
        }
        _ => Materialized {
            reference: documented,
            from_osc: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_parsed_tolerantly_and_never_keeps_values() {
        let body =
            br#"[{"key":"user.a","prefix":"user","updatedAt":"2026-01-01T00:00:00Z","value":"v"},
            {"prefix":"user"}, "user.b", {"key":"user.c","updatedAt":1700000000}]"#;
        let entries = parse_list(body).unwrap_or_default();
        assert_eq!(
            entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["user.a", "user.b", "user.c"]
        );
        assert_eq!(entries[2].updated_at.as_deref(), Some("1700000000"));
        let wrapped = br#"{"secrets":[{"key":"user.a"}]}"#;
        assert_eq!(parse_list(wrapped).map(|e| e.len()), Ok(1));
        assert!(parse_list(b"<html>").is_err());
    }

    #[test]
    fn reference_falls_back_to_the_documented_form() {
        let got = parse_reference(br#"{"reference":"{{secrets.apikey}}"}"#, "apikey");
        assert!(got.from_osc);
        let got = parse_reference(b"", "apikey");
        assert_eq!(got.reference, "{{secrets.apikey}}");
        assert!(!got.from_osc);
    }

    #[test]
    fn error_detail_prefers_message_and_scrubs() {
        let token = SecretString::from("tok-123456");
        let value = SecretString::from("val-abcdef");
        let body =
            br#"{"statusCode":400,"error":"Bad Request","message":"bad val-abcdef tok-123456"}"#;
        assert_eq!(
            error_detail(body, &token, &value),
            "bad [redacted] [redacted]"
        );
        assert_eq!(
            error_detail(br#"{"reason":"nope"}"#, &token, &value),
            "nope"
        );
        assert_eq!(error_detail(b"plain text", &token, &value), "plain text");
    }
}
