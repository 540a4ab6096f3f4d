//! The authorization server's metadata, found as the MCP authorization
//! specification says: RFC 8414 (`/.well-known/oauth-authorization-server`,
//! with the issuer's path after it), then OpenID Connect discovery (path
//! inserted, then appended). The document's `issuer` must equal the
//! configured one exactly (RFC 8414 3.3): a mismatch stops the server,
//! quoting both.

use serde_json::Value;

use super::fetch::{FetchError, Fetcher, shown};

/// Most bytes of a metadata document.
const MAX_METADATA_BYTES: usize = 256 * 1024;

/// What the resource server takes from the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Metadata {
    pub(crate) jwks_uri: String,
    /// Where a browser signs in (the one-time page's sign-in), if usable.
    pub(crate) authorization_endpoint: Option<String>,
    /// Where a code is redeemed (the one-time page's sign-in), if usable.
    pub(crate) token_endpoint: Option<String>,
    /// Where it was found, for the start-up line.
    pub(crate) found_at: String,
}

/// Why the metadata could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "the authorization server's metadata at {found_at} names the issuer {found:?}, but --oauth-issuer \
         (MCP_OAUTH_ISSUER) is {configured:?}: they must be equal, character for character (a trailing slash \
         counts). Set --oauth-issuer to the issuer the metadata names, if that is the server you mean"
    )]
    IssuerMismatch {
        configured: String,
        found: String,
        found_at: String,
    },
    #[error(
        "no authorization server metadata was found for the issuer {issuer:?}: tried {}. Check --oauth-issuer \
         (MCP_OAUTH_ISSUER)",
        .tried.join(", ")
    )]
    NotFound { issuer: String, tried: Vec<String> },
    #[error("cannot read the authorization server's metadata: {0}")]
    Fetch(#[from] FetchError),
    #[error(
        "the authorization server's metadata at {found_at} has no usable jwks_uri (https://, or http:// to \
         loopback): the keys that sign its tokens cannot be found"
    )]
    NoKeys { found_at: String },
}

/// The metadata locations for `issuer`, in the order they are tried.
pub(crate) fn locations(issuer: &str) -> Vec<String> {
    let Ok(url) = reqwest::Url::parse(issuer) else {
        return Vec::new();
    };
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    if path.is_empty() {
        return vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ];
    }
    vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}/.well-known/openid-configuration{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ]
}

/// Finds and checks the metadata of `issuer`.
pub(crate) async fn discover(fetcher: &Fetcher, issuer: &str) -> Result<Metadata, DiscoveryError> {
    let mut tried = Vec::new();
    for location in locations(issuer) {
        let document = match fetcher.json(&location, MAX_METADATA_BYTES).await {
            Ok(document) => document,
            Err(absent) if absent.is_absent() => {
                tried.push(shown(&location));
                continue;
            }
            Err(other) => return Err(other.into()),
        };
        return check(&document, issuer, &location);
    }
    Err(DiscoveryError::NotFound {
        issuer: shown_issuer(issuer),
        tried,
    })
}

fn check(document: &Value, issuer: &str, location: &str) -> Result<Metadata, DiscoveryError> {
    let found_at = shown(location);
    let found = document.get("issuer").and_then(Value::as_str).unwrap_or("");
    if found != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            configured: shown_issuer(issuer),
            found: shown_issuer(found),
            found_at,
        });
    }
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .filter(|uri| crate::config::check_url(uri).is_ok())
        .ok_or_else(|| DiscoveryError::NoKeys {
            found_at: found_at.clone(),
        })?;
    let endpoint = |name: &str| {
        document
            .get(name)
            .and_then(Value::as_str)
            .filter(|uri| endpoint_ok(uri))
            .map(str::to_owned)
    };
    Ok(Metadata {
        jwks_uri: jwks_uri.to_owned(),
        authorization_endpoint: endpoint("authorization_endpoint"),
        token_endpoint: endpoint("token_endpoint"),
        found_at,
    })
}

/// An endpoint URL as the sign-in may use it: https (http to loopback), no
/// credentials, no fragment. The authorization endpoint may carry a query
/// (RFC 6749 3.1), which the request's parameters are added to.
fn endpoint_ok(uri: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(uri) else {
        return false;
    };
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => crate::config::is_loopback(&url),
        _ => false,
    };
    scheme_ok
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

/// An issuer string as a message may quote it: cut to 200 characters, with
/// control characters replaced (it came from outside).
fn shown_issuer(raw: &str) -> String {
    raw.chars()
        .take(200)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn locations_follow_the_specification() {
        assert_eq!(
            locations("https://tenant.auth0.com/"),
            [
                "https://tenant.auth0.com/.well-known/oauth-authorization-server",
                "https://tenant.auth0.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            locations("https://kc.example.com/realms/team"),
            [
                "https://kc.example.com/.well-known/oauth-authorization-server/realms/team",
                "https://kc.example.com/.well-known/openid-configuration/realms/team",
                "https://kc.example.com/realms/team/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn the_issuer_must_match_exactly_and_both_are_quoted() {
        let document = json!({
            "issuer": "https://tenant.auth0.com/",
            "jwks_uri": "https://tenant.auth0.com/.well-known/jwks.json"
        });
        let found = check(&document, "https://tenant.auth0.com/", "https://x/").unwrap();
        assert_eq!(
            found.jwks_uri,
            "https://tenant.auth0.com/.well-known/jwks.json"
        );
        let error = check(&document, "https://tenant.auth0.com", "https://x/")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(r#""https://tenant.auth0.com/""#)
                && error.contains(r#""https://tenant.auth0.com""#),
            "{error}"
        );
        let plain = json!({ "issuer": "https://a.example", "jwks_uri": "http://a.example/keys" });
        assert!(matches!(
            check(&plain, "https://a.example", "https://a.example/"),
            Err(DiscoveryError::NoKeys { .. })
        ));
    }
}
