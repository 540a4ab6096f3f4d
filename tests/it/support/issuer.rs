//! A hand-made authorization server on loopback, for the hostile cases a
//! real one cannot produce: it serves RFC 8414 metadata and a JWKS that
//! can be rotated, slowed, blown up or redirected, and signs whatever
//! header and claims a test asks for with its ES256 keys. (The main path
//! uses a real authorization server: see `oauth_provider`.)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// One ES256 signing key.
pub struct SigningKey {
    pub kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    pub fn new(kid: &str) -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        SigningKey {
            kid: kid.to_owned(),
            pair,
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC",
            "crv": "P-256",
            "use": "sig",
            "alg": "ES256",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// The public key's bytes (for the HMAC-with-the-public-key attack).
    pub fn public_bytes(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// A compact JWS of `header` and `claims`, signed with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// `base64url(header).base64url(claims)`.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// How the JWKS endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jwks {
    Normal,
    /// Answers after longer than the server waits.
    Slow,
    /// A megabyte and more.
    Huge,
    /// A 302 to another URL.
    Redirect,
}

struct IssuerState {
    /// Where it listens: its keys are always there.
    own: String,
    /// What the metadata says the issuer is.
    named: Mutex<String>,
    keys: Mutex<Vec<Arc<SigningKey>>>,
    jwks: Mutex<Jwks>,
    jwks_hits: AtomicUsize,
    /// Requests to anything else (a `jku` or `x5u` pointing here, say).
    other_hits: AtomicUsize,
}

/// The running issuer.
pub struct Issuer {
    /// The issuer identifier: `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<IssuerState>,
    pub key: Arc<SigningKey>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Issuer {
    pub async fn start() -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let key = Arc::new(SigningKey::new("key-1"));
        let state = Arc::new(IssuerState {
            own: url.clone(),
            named: Mutex::new(url.clone()),
            keys: Mutex::new(vec![Arc::clone(&key)]),
            jwks: Mutex::new(Jwks::Normal),
            jwks_hits: AtomicUsize::new(0),
            other_hits: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks", get(jwks))
            .route("/jwks-elsewhere", get(|| async { "{}" }))
            .fallback(other)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Issuer {
            url,
            state,
            key,
            task,
        }
    }

    /// Makes the metadata name another issuer.
    pub fn name_as(&self, issuer: &str) {
        *self.state.named.lock().unwrap() = issuer.to_owned();
    }

    pub fn set_jwks(&self, mode: Jwks) {
        *self.state.jwks.lock().unwrap() = mode;
    }

    /// Publishes `keys` in place of the current ones.
    pub fn publish(&self, keys: Vec<Arc<SigningKey>>) {
        *self.state.keys.lock().unwrap() = keys;
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn other_hits(&self) -> usize {
        self.state.other_hits.load(Ordering::SeqCst)
    }

    /// Claims of a good token for `resource`, by `subject`, with `scope`.
    pub fn claims(&self, resource: &str, subject: &str, scope: &str) -> Value {
        let now = now();
        json!({
            "iss": self.url,
            "sub": subject,
            "aud": resource,
            "iat": now,
            "exp": now + 600,
            "scope": scope,
            "client_id": "test-client",
        })
    }

    /// A good access token for `resource`, by `subject`, with `scope`.
    pub fn token(&self, resource: &str, subject: &str, scope: &str) -> String {
        self.key.sign(
            &header(&self.key.kid),
            &self.claims(resource, subject, scope),
        )
    }
}

/// An RFC 9068 header for an ES256 token signed by `kid`.
pub fn header(kid: &str) -> Value {
    json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid })
}

async fn metadata(State(state): State<Arc<IssuerState>>) -> Response {
    let named = state.named.lock().unwrap().clone();
    let own = &state.own;
    axum::Json(json!({
        "issuer": named,
        "jwks_uri": format!("{own}/jwks"),
        "authorization_endpoint": format!("{own}/authorize"),
        "token_endpoint": format!("{own}/token"),
        "response_types_supported": ["code"],
    }))
    .into_response()
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let mode = *state.jwks.lock().unwrap();
    let keys: Vec<Value> = state.keys.lock().unwrap().iter().map(|k| k.jwk()).collect();
    match mode {
        Jwks::Normal => axum::Json(json!({ "keys": keys })).into_response(),
        Jwks::Slow => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            axum::Json(json!({ "keys": keys })).into_response()
        }
        Jwks::Huge => {
            let padding = "x".repeat(2 * 1024 * 1024);
            axum::Json(json!({ "keys": keys, "padding": padding })).into_response()
        }
        Jwks::Redirect => (
            StatusCode::FOUND,
            [(header::LOCATION, "/jwks-elsewhere")],
            "",
        )
            .into_response(),
    }
}

async fn other(State(state): State<Arc<IssuerState>>) -> Response {
    state.other_hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND.into_response()
}
