//! The authorization server's signing keys, from its `jwks_uri`: fetched at
//! start, kept, and fetched again when a token names a key id the set does
//! not hold, at most once a minute (a flood of made-up key ids costs the
//! authorization server one request a minute). Only asymmetric signing keys
//! are kept; a key the set cannot describe is skipped, not fatal.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use super::fetch::{FetchError, Fetcher};
use crate::sync::lock;

/// Most bytes of a key set.
const MAX_JWKS_BYTES: usize = 512 * 1024;
/// Most keys kept from one set.
const MAX_KEYS: usize = 64;
/// The least time between two fetches a token's unknown key id causes.
pub(crate) const REFETCH_EVERY: Duration = Duration::from_secs(60);

/// One signing key.
pub(crate) struct Key {
    kid: Option<String>,
    family: AlgorithmFamily,
    /// The key's own `alg`, when the set names one: then only that.
    alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl Key {
    fn fits(&self, algorithm: Algorithm) -> bool {
        self.family == algorithm.family() && self.alg.is_none_or(|a| a == algorithm)
    }
}

/// The key set, and when a token last made it be fetched again.
pub(crate) struct Keys {
    jwks_uri: String,
    set: Mutex<Arc<Vec<Key>>>,
    /// Held while fetching, so concurrent unknown key ids fetch once.
    refetch: tokio::sync::Mutex<Option<Instant>>,
}

/// Why no key verifies a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoKey {
    /// No key with that id (or, for a token without one, no single key of its algorithm).
    Unknown,
    /// A fetch was due and failed.
    Unavailable,
}

impl Keys {
    /// Fetches the set at `jwks_uri` once; a set with no usable key is an error.
    pub(crate) async fn load(fetcher: &Fetcher, jwks_uri: String) -> Result<Keys, KeysError> {
        let set = fetch(fetcher, &jwks_uri).await?;
        if set.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(Keys {
            jwks_uri,
            set: Mutex::new(Arc::new(set)),
            refetch: tokio::sync::Mutex::new(None),
        })
    }

    pub(crate) fn count(&self) -> usize {
        lock(&self.set).len()
    }

    /// The key for a token signed with `algorithm` under `kid`, fetching
    /// the set again if it is not there and the last such fetch is a
    /// minute old.
    pub(crate) async fn find(
        &self,
        fetcher: &Fetcher,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<(Arc<Vec<Key>>, usize), NoKey> {
        let set = Arc::clone(&lock(&self.set));
        if let Some(at) = position(&set, kid, algorithm) {
            return Ok((set, at));
        }
        let mut last = self.refetch.lock().await;
        // Another request may have fetched while this one waited.
        let current = Arc::clone(&lock(&self.set));
        if !Arc::ptr_eq(&current, &set)
            && let Some(at) = position(&current, kid, algorithm)
        {
            return Ok((current, at));
        }
        if last.is_some_and(|at| at.elapsed() < REFETCH_EVERY) {
            return Err(NoKey::Unknown);
        }
        *last = Some(Instant::now());
        match fetch(fetcher, &self.jwks_uri).await {
            Ok(fresh) if !fresh.is_empty() => {
                tracing::info!(keys = fresh.len(), "OAuth: signing keys fetched again");
                let fresh = Arc::new(fresh);
                *lock(&self.set) = Arc::clone(&fresh);
                position(&fresh, kid, algorithm)
                    .map(|at| (fresh, at))
                    .ok_or(NoKey::Unknown)
            }
            Ok(_) => {
                tracing::warn!(
                    "OAuth: the authorization server's key set holds no usable key; keeping the old one"
                );
                Err(NoKey::Unknown)
            }
            Err(e) => {
                tracing::warn!(error = %e, "OAuth: cannot fetch the signing keys again; keeping the old ones");
                Err(NoKey::Unavailable)
            }
        }
    }
}

/// A token with a `kid` takes the key of that id; one without takes the
/// only key of its algorithm, if there is exactly one.
fn position(set: &[Key], kid: Option<&str>, algorithm: Algorithm) -> Option<usize> {
    match kid {
        Some(kid) => set
            .iter()
            .position(|k| k.kid.as_deref() == Some(kid) && k.fits(algorithm)),
        None => {
            let mut fitting = set.iter().enumerate().filter(|(_, k)| k.fits(algorithm));
            match (fitting.next(), fitting.next()) {
                (Some((at, _)), None) => Some(at),
                _ => None,
            }
        }
    }
}

/// Why the key set could not be used at start.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read the authorization server's signing keys: {0}")]
    Fetch(#[from] FetchError),
    #[error(
        "the authorization server's key set (jwks_uri) holds no usable signing key (RSA of 2048 bits or more, \
         EC P-256 or P-384, or Ed25519)"
    )]
    Empty,
}

async fn fetch(fetcher: &Fetcher, jwks_uri: &str) -> Result<Vec<Key>, KeysError> {
    let document = fetcher.json(jwks_uri, MAX_JWKS_BYTES).await?;
    Ok(parse(&document))
}

/// The usable signing keys of a JWKS document.
pub(crate) fn parse(document: &Value) -> Vec<Key> {
    let Some(keys) = document.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|raw| serde_json::from_value::<Jwk>(raw.clone()).ok())
        .filter_map(|jwk| usable(&jwk))
        .take(MAX_KEYS)
        .collect()
}

fn usable(jwk: &Jwk) -> Option<Key> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
        AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
        AlgorithmParameters::OctetKeyPair(_) => AlgorithmFamily::Ed,
        // Symmetric keys (`oct`) would let HMAC in; other types are unknown.
        _ => return None,
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(named) => {
            let algorithm = Algorithm::try_from(named).ok()?;
            if algorithm.family() != family {
                return None;
            }
            Some(algorithm)
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        kid: jwk.common.key_id.clone(),
        family,
        alg,
        key,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_asymmetric_signing_keys_are_kept() {
        let document = json!({ "keys": [
            { "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" },
            { "kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "enc", "use": "enc" },
            { "kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "ec", "alg": "ES256" },
            { "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa-named-hs", "alg": "HS256" },
            { "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa" },
            { "kty": "weird", "kid": "x" },
            "not an object"
        ]});
        let keys = parse(&document);
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref().unwrap()).collect();
        assert_eq!(kids, ["ec", "rsa"]);
        assert_eq!(position(&keys, Some("ec"), Algorithm::ES256), Some(0));
        assert_eq!(position(&keys, Some("ec"), Algorithm::ES384), None);
        assert_eq!(position(&keys, Some("rsa"), Algorithm::PS256), Some(1));
        assert_eq!(position(&keys, Some("rsa"), Algorithm::HS256), None);
        assert_eq!(position(&keys, None, Algorithm::RS256), Some(1));
        assert_eq!(position(&keys, Some("gone"), Algorithm::RS256), None);
        assert!(parse(&json!({ "keys": "no" })).is_empty());
    }
}
