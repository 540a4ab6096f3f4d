//! The OAuth 2.1 resource server (`--oauth-issuer`): the listener's second
//! way to authenticate, in place of the static bearer token. It validates
//! JWT access tokens (RFC 9068) that an external authorization server issued
//! for this server's resource, and never issues tokens itself.
//!
//! At start it finds the issuer's metadata ([`discovery`]) and signing keys
//! ([`keys`]); then every protected request's `Authorization: Bearer` token
//! is checked ([`ResourceServer::validate`]): signature by a key of the
//! issuer's set with an asymmetric algorithm ([`verify`]), `typ`, `iss`,
//! `aud`, `exp` and `nbf` (60 s leeway), and the scopes. What it learns, an
//! [`Identity`], goes into the request's extensions; the token goes no
//! further. A validation is kept per token (by its SHA-256) until the token
//! expires, so a client's later requests cost a hash and a lookup.

pub mod discovery;
pub mod fetch;
pub mod keys;
pub(crate) mod sign_in;
pub(crate) mod verify;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::fetch::Fetcher;
use self::keys::{Keys, NoKey};
use crate::config::OAuthSettings;
use crate::domain::{Identity, ScopeNames};
use crate::sync::lock;
use crate::web::error_response;

/// Longest access token read; a longer one is refused unparsed.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;
/// Most validations kept at once.
const MAX_CACHED: usize = 10_000;

/// Why the resource server could not start.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error(transparent)]
    Discovery(#[from] discovery::DiscoveryError),
    #[error(transparent)]
    Keys(#[from] keys::KeysError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(
        "the authorization server's metadata names no usable {0} (https://, or http:// to loopback), which the \
         one-time page's sign-in (--oauth-page-client-id) needs"
    )]
    NoSignInEndpoint(&'static str),
    #[error(
        "OAuth needs the resource identifier tokens are issued for: set --public-url (OSC_MCP_PUBLIC_URL) to the \
         URL clients reach this server at, or --oauth-resource (MCP_OAUTH_RESOURCE). Only a loopback listener \
         may go without, and then it is http://ADDR/mcp"
    )]
    NoResource,
}

/// The resource server of one listener.
pub(crate) struct ResourceServer {
    issuer: String,
    resource: String,
    /// What a token's `aud` must hold one of: the resource, and any
    /// audience the operator added (`--oauth-audience`).
    audiences: Vec<String>,
    /// Where the protected resource metadata is (RFC 9728 3.1), for challenges.
    metadata_url: String,
    /// The metadata document, as served.
    metadata: Arc<Value>,
    /// The paths under `/.well-known/oauth-protected-resource` it is served at.
    metadata_suffixes: Vec<String>,
    names: Arc<ScopeNames>,
    /// The claim that names the person (`sub`, or Entra ID's `oid`).
    subject_claim: &'static str,
    fetcher: Fetcher,
    keys: Keys,
    /// The issuer's authorization and token endpoints, for the one-time
    /// page's sign-in.
    endpoints: (Option<String>, Option<String>),
    /// Validations by the token's SHA-256, until the token's `exp`.
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

struct Cached {
    identity: Identity,
    /// The token's `exp`, in seconds since the epoch.
    expires: u64,
}

impl ResourceServer {
    /// Discovers the issuer's metadata and keys, for a listener bound to
    /// `local`. Fails, saying what to fix, when they cannot be used.
    pub(crate) async fn start(
        settings: &OAuthSettings,
        local: SocketAddr,
    ) -> Result<ResourceServer, OAuthError> {
        verify::install();
        let resource = match &settings.resource {
            Some(resource) => resource.clone(),
            None if local.ip().is_loopback() => format!("http://{local}/mcp"),
            None => return Err(OAuthError::NoResource),
        };
        let fetcher = Fetcher::new()?;
        let metadata = discovery::discover(&fetcher, &settings.issuer).await?;
        let keys = Keys::load(&fetcher, metadata.jwks_uri.clone()).await?;
        tracing::info!(
            metadata = %metadata.found_at,
            keys = keys.count(),
            "OAuth: authorization server metadata and signing keys loaded"
        );
        let (metadata_url, resource_path) = metadata_location(&resource);
        let mut metadata_suffixes = vec![String::new(), "/mcp".to_owned()];
        if !metadata_suffixes.contains(&resource_path) {
            metadata_suffixes.push(resource_path);
        }
        let names = Arc::new(settings.scopes.clone());
        let document = json!({
            "resource": resource,
            "authorization_servers": [settings.issuer],
            "scopes_supported": names.all(),
            "bearer_methods_supported": ["header"],
            "resource_name": "OSC Secrets",
        });
        let mut audiences = vec![resource.clone()];
        audiences.extend(settings.audiences.iter().cloned());
        Ok(ResourceServer {
            issuer: settings.issuer.clone(),
            audiences,
            resource,
            metadata_url,
            metadata: Arc::new(document),
            metadata_suffixes,
            names,
            subject_claim: settings.subject_claim.name(),
            fetcher,
            keys,
            endpoints: (metadata.authorization_endpoint, metadata.token_endpoint),
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn resource(&self) -> &str {
        &self.resource
    }

    pub(crate) fn metadata(&self) -> Arc<Value> {
        Arc::clone(&self.metadata)
    }

    /// The paths after `/.well-known/oauth-protected-resource` the metadata
    /// is served at: none, `/mcp`, and the resource's own path.
    pub(crate) fn metadata_suffixes(&self) -> &[String] {
        &self.metadata_suffixes
    }

    /// The identity `token` proves, or why it proves none. Never logs or
    /// keeps the token; a validation is kept by the token's hash.
    pub(crate) async fn validate(&self, token: &str) -> Result<Identity, Invalid> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Invalid::TooLong);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_secs();
        if let Some(cached) = lock(&self.cache).get(&digest)
            && cached.expires > now
        {
            return Ok(cached.identity.clone());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Invalid::Malformed)?;
        if !verify::ALLOWED.contains(&header.alg) {
            return Err(Invalid::Algorithm);
        }
        // RFC 9068 says at+jwt; Keycloak and Entra ID write JWT.
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            ["at+jwt", "application/at+jwt", "jwt"]
                .iter()
                .any(|t| typ.eq_ignore_ascii_case(t))
        });
        if !typ_ok {
            return Err(Invalid::Type);
        }
        // `jku`, `x5u`, `jwk` and `x5c` are never looked at: the key is the
        // issuer's, by `kid`, or nothing.
        let (set, at) = self
            .keys
            .find(&self.fetcher, header.kid.as_deref(), header.alg)
            .await
            .map_err(|missing| match missing {
                NoKey::Unknown => Invalid::UnknownKey,
                NoKey::Unavailable => Invalid::KeysUnavailable,
            })?;
        let validation = self.validation(header.alg);
        let claims = jsonwebtoken::decode::<Claims>(token, &set[at].key, &validation)
            .map_err(|e| Invalid::from_jwt(e.kind()))?
            .claims;
        // The library checked these; the exact comparisons are repeated
        // here so that no option of it can loosen them.
        if claims.iss != self.issuer {
            return Err(Invalid::Issuer);
        }
        if !claims
            .audiences()
            .any(|aud| self.audiences.iter().any(|a| a == aud))
        {
            return Err(Invalid::Audience);
        }
        let subject = claims
            .subject(self.subject_claim)
            .map(clip)
            .filter(|s| !s.is_empty())
            .ok_or(Invalid::NoSubject)?;
        let identity = Identity {
            subject: Arc::from(subject),
            client: claims
                .client_id
                .as_deref()
                .or(claims.azp.as_deref())
                .map(|c| Arc::from(clip(c))),
            grant: self.names.grant(claims.scopes()),
            names: Arc::clone(&self.names),
        };
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, c| c.expires > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(
            digest,
            Cached {
                identity: identity.clone(),
                expires: claims.exp,
            },
        );
        Ok(identity)
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        // `sub` is required where it names the person; another claim
        // (`--oauth-subject-claim`) is checked after decoding.
        if self.subject_claim == "sub" {
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        } else {
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        }
        validation
    }

    /// `401` with the challenge that points clients at the metadata; with
    /// `error="invalid_token"` when a token was sent.
    pub(crate) fn unauthorized(&self, sent: bool) -> Response {
        let challenge = if sent {
            format!(
                r#"Bearer resource_metadata="{}", error="invalid_token", error_description="The access token is not valid for this server""#,
                self.metadata_url
            )
        } else {
            format!(r#"Bearer resource_metadata="{}""#, self.metadata_url)
        };
        let message = if sent {
            format!(
                "The access token is not valid for this server: it must be a current JWT access token from {} issued \
                 for the resource {}. Sign in again; the OSC personal access token is never accepted here.",
                self.issuer, self.resource
            )
        } else {
            format!(
                "This server requires an OAuth access token from {} for the resource {}: sign in (its protected \
                 resource metadata is at {}) and send `Authorization: Bearer <access token>`.",
                self.issuer, self.resource, self.metadata_url
            )
        };
        let mut response = error_response(StatusCode::UNAUTHORIZED, "unauthorized", message);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }

    /// `403 insufficient_scope`, naming the scope the request needs, so a
    /// client can ask the person for it (step-up). The challenge's `scope`
    /// is `ask`: the scopes the token holds and the one needed.
    pub(crate) fn insufficient_scope(&self, ask: &str, scope: &str, what: &str) -> Response {
        let challenge = format!(
            r#"Bearer error="insufficient_scope", scope="{ask}", resource_metadata="{}", error_description="This request needs the scope {scope}""#,
            self.metadata_url
        );
        let mut response = error_response(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "{what} needs the scope {scope}, which this access token does not have. Nothing was done and nothing \
                 was sent to OSC. Sign in again asking for {scope}, or ask whoever manages the authorization server \
                 to grant it."
            ),
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// What the `Authorization` header holds.
pub(crate) enum Presented<'a> {
    Missing,
    /// Twice, another scheme, or not text.
    Unusable,
    Token(&'a str),
}

pub(crate) fn bearer(headers: &HeaderMap) -> Presented<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Presented::Missing;
    };
    if values.next().is_some() {
        return Presented::Unusable;
    }
    crate::web::header_text(value)
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .map_or(Presented::Unusable, Presented::Token)
}

/// Why a token proves nothing; for logs, in fixed words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    TooLong,
    Malformed,
    Algorithm,
    Type,
    UnknownKey,
    KeysUnavailable,
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    NoSubject,
    Claims,
}

impl Invalid {
    fn from_jwt(kind: &jsonwebtoken::errors::ErrorKind) -> Invalid {
        use jsonwebtoken::errors::ErrorKind as K;
        match kind {
            K::InvalidSignature
            | K::InvalidEcdsaKey
            | K::InvalidRsaKey(_)
            | K::InvalidKeyFormat => Invalid::Signature,
            K::InvalidAlgorithm | K::MissingAlgorithm => Invalid::Algorithm,
            K::ExpiredSignature => Invalid::Expired,
            K::ImmatureSignature => Invalid::NotYetValid,
            K::InvalidIssuer => Invalid::Issuer,
            K::InvalidAudience => Invalid::Audience,
            K::MissingRequiredClaim(claim) if claim == "aud" => Invalid::Audience,
            K::MissingRequiredClaim(claim) if claim == "iss" => Invalid::Issuer,
            K::MissingRequiredClaim(claim) if claim == "sub" => Invalid::NoSubject,
            K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => Invalid::Malformed,
            _ => Invalid::Claims,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Invalid::TooLong => "too long",
            Invalid::Malformed => "malformed",
            Invalid::Algorithm => "algorithm not accepted",
            Invalid::Type => "not an access token (typ)",
            Invalid::UnknownKey => "unknown signing key",
            Invalid::KeysUnavailable => "signing keys unavailable",
            Invalid::Signature => "bad signature",
            Invalid::Expired => "expired",
            Invalid::NotYetValid => "not yet valid",
            Invalid::Issuer => "wrong issuer",
            Invalid::Audience => "not issued for this resource",
            Invalid::NoSubject => "no subject",
            Invalid::Claims => "claims not valid",
        }
    }
}

/// The claims read from a token; the rest are ignored.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Value,
    #[serde(default)]
    exp: u64,
    #[serde(default)]
    scope: Option<Value>,
    #[serde(default)]
    scp: Option<Value>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    /// Entra ID's object ID: the same person in every client application,
    /// where its `sub` differs for each.
    #[serde(default)]
    oid: Option<String>,
}

impl Claims {
    /// The claim that names the person: `sub`, or `oid` (Entra ID).
    fn subject(&self, claim: &str) -> Option<&str> {
        match claim {
            "oid" => self.oid.as_deref(),
            _ => self.sub.as_deref(),
        }
    }

    fn audiences(&self) -> impl Iterator<Item = &str> {
        strings(Some(&self.aud))
    }

    /// `scope` (space-separated, or an array) and `scp` (Entra ID: a
    /// string; Okta: an array).
    fn scopes(&self) -> impl Iterator<Item = &str> {
        strings(self.scope.as_ref())
            .chain(strings(self.scp.as_ref()))
            .flat_map(str::split_ascii_whitespace)
    }
}

/// The strings of a claim that is one string or an array of them.
fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let (one, many) = match value {
        Some(Value::String(s)) => (Some(s.as_str()), None),
        Some(Value::Array(items)) => (None, Some(items.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

/// A claim as a log line or record may hold it: 128 characters, no controls.
fn clip(raw: &str) -> String {
    raw.chars()
        .take(128)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Where RFC 9728 puts the metadata of `resource`: the well-known path
/// inserted between its origin and its path. Returns the URL and the path.
fn metadata_location(resource: &str) -> (String, String) {
    match reqwest::Url::parse(resource) {
        Ok(url) => {
            let path = url.path().trim_end_matches('/').to_owned();
            (
                format!(
                    "{}/.well-known/oauth-protected-resource{path}",
                    url.origin().ascii_serialization()
                ),
                path,
            )
        }
        Err(_) => (
            "/.well-known/oauth-protected-resource".to_owned(),
            String::new(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::test_headers as headers;

    #[test]
    fn the_token_comes_from_one_bearer_header() {
        assert!(matches!(
            bearer(&headers(&[("authorization", "Bearer a.b.c")])),
            Presented::Token("a.b.c")
        ));
        assert!(matches!(bearer(&HeaderMap::new()), Presented::Missing));
        for bad in ["Basic a.b.c", "Bearer", "Bearer  ", "a.b.c"] {
            assert!(
                matches!(
                    bearer(&headers(&[("authorization", bad)])),
                    Presented::Unusable
                ),
                "{bad}"
            );
        }
        let twice = headers(&[
            ("authorization", "Bearer a.b.c"),
            ("authorization", "Bearer a.b.c"),
        ]);
        assert!(matches!(bearer(&twice), Presented::Unusable));
    }

    #[test]
    fn scopes_and_audiences_are_a_string_or_an_array() {
        let claims: Claims = serde_json::from_value(json!({
            "iss": "i", "sub": "s", "exp": 1,
            "aud": ["other", "https://x/mcp"],
            "scope": "openid secrets:read",
            "scp": ["secrets:write"],
        }))
        .unwrap();
        assert_eq!(
            claims.audiences().collect::<Vec<_>>(),
            ["other", "https://x/mcp"]
        );
        assert_eq!(
            claims.scopes().collect::<Vec<_>>(),
            ["openid", "secrets:read", "secrets:write"]
        );
        let entra: Claims = serde_json::from_value(json!({
            "iss": "i", "sub": "s", "exp": 1, "aud": "https://x/mcp", "scp": "Secrets.Read Secrets.Write",
        }))
        .unwrap();
        assert_eq!(
            entra.scopes().collect::<Vec<_>>(),
            ["Secrets.Read", "Secrets.Write"]
        );
        assert_eq!(entra.audiences().collect::<Vec<_>>(), ["https://x/mcp"]);
    }

    #[test]
    fn the_metadata_sits_before_the_resource_path() {
        assert_eq!(
            metadata_location("https://secrets.example.com/mcp"),
            (
                "https://secrets.example.com/.well-known/oauth-protected-resource/mcp".to_owned(),
                "/mcp".to_owned()
            )
        );
        assert_eq!(
            metadata_location("https://example.com/prefix/mcp").0,
            "https://example.com/.well-known/oauth-protected-resource/prefix/mcp"
        );
    }
}
