//! Sealed `requestState` for the retry era (2026-07-28).
//!
//! The client echoes the state back on its retry, so to the server it is
//! attacker-controlled input. [`States`] seals it with rmcp's
//! `RequestStateCodec` (HMAC-SHA256 under a key drawn at start, never
//! written anywhere) and binds it, as associated data, to the tool, the key,
//! the purpose (confirmation or `askUser`) and a digest of the call's
//! arguments: a state made for one call opens for no other. An expiry is
//! sealed in. Single use is the server's part: every state carries a
//! nonce, and [`Spent`] remembers the nonces already redeemed until their
//! expiry, so a replayed state is refused.
//!
//! The payload is signed, not encrypted (base64url-readable by anyone):
//! never put a value in it.
//!
//! [`Spent`] is the seam for replicas: a shared store (for example Redis
//! `SET nonce 1 NX PX ttl`) makes single use hold across processes. The
//! signing key must then be shared too.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{JsonObject, RequestStateCodec, RequestStateError, SealOptions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::random::{NoRandomness, unguessable};
use crate::sync::lock;

/// What a sealed state is bound to. Each field is part of the associated
/// data, so a state opens only for the same tool, key, purpose and
/// arguments.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    pub tool: &'a str,
    pub key: &'a str,
    /// What the state continues: `"confirm"`, `"askUser"`.
    pub purpose: &'a str,
    /// The call's arguments; their order and spacing do not matter.
    pub arguments: Option<&'a JsonObject>,
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut digest = Sha256::new();
        for part in [self.tool, self.key, self.purpose] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        let arguments = self
            .arguments
            .map(|a| canonical(&Value::Object(a.clone())))
            .unwrap_or_default();
        digest.update((arguments.len() as u64).to_be_bytes());
        digest.update(arguments.as_bytes());
        digest.finalize().to_vec()
    }
}

/// JSON with every object's members sorted by name, so that a client that
/// re-serializes the same arguments in another order still matches.
fn canonical(value: &Value) -> String {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    // Serializing a `Value` cannot fail.
    serde_json::to_string(&sort(value)).unwrap_or_default()
}

/// Why an echoed state was refused. Each says what to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateRefused {
    /// Forged, altered, not a state of this server (or of this process: the
    /// key is drawn at start), or made for another tool, key, purpose or
    /// arguments.
    #[error(
        "the requestState does not belong to this call (it was altered, made by another server process, or made for another tool, key or arguments), so nothing was changed. Call the tool again without requestState."
    )]
    Invalid,
    /// Older than its expiry.
    #[error(
        "the requestState has expired, so nothing was changed. Call the tool again without requestState."
    )]
    Expired,
    /// Already used once.
    #[error(
        "the requestState was already used once and cannot be used again, so nothing was changed. Call the tool again without requestState."
    )]
    Spent,
    /// Too many states are outstanding to remember another.
    #[error(
        "the server is tracking too many pending requests to take this one, so nothing was changed. Retry in a minute."
    )]
    Busy,
}

/// Remembers redeemed nonces until they expire: single use of sealed states.
pub trait Spent: Send + Sync {
    /// Marks `nonce` used until `ttl` from now. `Ok(true)` the first time,
    /// `Ok(false)` if it was used already; `Err` when nothing more can be
    /// remembered (the caller refuses rather than risk a replay).
    fn redeem(&self, nonce: &str, ttl: Duration) -> Result<bool, StateRefused>;

    /// Whether `nonce` was redeemed and has not expired since.
    fn used(&self, nonce: &str) -> bool;
}

/// [`Spent`] in this process's memory, bounded.
pub struct MemorySpent {
    used: Mutex<HashMap<String, Instant>>,
    cap: usize,
}

impl MemorySpent {
    pub fn new(cap: usize) -> Self {
        MemorySpent {
            used: Mutex::new(HashMap::new()),
            cap,
        }
    }
}

impl Default for MemorySpent {
    fn default() -> Self {
        MemorySpent::new(100_000)
    }
}

impl Spent for MemorySpent {
    fn redeem(&self, nonce: &str, ttl: Duration) -> Result<bool, StateRefused> {
        let now = Instant::now();
        let mut used = lock(&self.used);
        if used.get(nonce).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        if used.len() >= self.cap {
            used.retain(|_, until| *until > now);
            if used.len() >= self.cap {
                return Err(StateRefused::Busy);
            }
        }
        used.insert(nonce.to_owned(), now + ttl);
        Ok(true)
    }

    fn used(&self, nonce: &str) -> bool {
        lock(&self.used)
            .get(nonce)
            .is_some_and(|until| *until > Instant::now())
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed<T> {
    /// The nonce that makes the state single-use.
    n: String,
    /// How long it lives, in milliseconds (so the nonce is kept as long).
    t: u64,
    /// The caller's payload.
    d: T,
}

/// Seals and opens `requestState`. One per process; cheap to share.
pub struct States {
    codec: RequestStateCodec,
    spent: Arc<dyn Spent>,
}

impl States {
    /// A fresh signing key from the OS generator, and single use remembered
    /// in memory.
    pub fn new() -> Result<States, NoRandomness> {
        States::with_store(Arc::new(MemorySpent::default()))
    }

    /// A fresh signing key, and single use remembered by `spent`.
    pub fn with_store(spent: Arc<dyn Spent>) -> Result<States, NoRandomness> {
        // 32 random bytes as 64 hex characters: above the codec's minimum.
        let key = unguessable(32)?;
        let codec = RequestStateCodec::try_new(key.into_bytes()).map_err(|_| NoRandomness)?;
        Ok(States { codec, spent })
    }

    /// Seals `payload` for the call `binding` describes, valid for `ttl`.
    pub fn seal<T: Serialize>(
        &self,
        binding: &Binding<'_>,
        payload: &T,
        ttl: Duration,
    ) -> Result<String, NoRandomness> {
        let sealed = Sealed {
            n: unguessable(16)?,
            t: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            d: payload,
        };
        let associated = binding.associated_data();
        self.codec
            .seal_json_with(
                &sealed,
                &SealOptions::new().associated_data(&associated).ttl(ttl),
            )
            .map_err(|_| NoRandomness)
    }

    /// Whether `echoed` would open for the call `binding` describes: sealed
    /// here, bound to this call, unexpired and not yet spent. Spends
    /// nothing (so two racing retries may both pass this; only one opens).
    pub fn valid(&self, echoed: &str, binding: &Binding<'_>) -> bool {
        let associated = binding.associated_data();
        self.codec
            .open_json_with::<Sealed<serde::de::IgnoredAny>>(echoed, &associated)
            .is_ok_and(|sealed| !self.spent.used(&sealed.n))
    }

    /// Opens a state the client echoed for the call `binding` describes,
    /// and spends it: the same state never opens twice.
    pub fn open<T: DeserializeOwned>(
        &self,
        echoed: &str,
        binding: &Binding<'_>,
    ) -> Result<T, StateRefused> {
        let associated = binding.associated_data();
        let sealed: Sealed<T> =
            self.codec
                .open_json_with(echoed, &associated)
                .map_err(|e| match e {
                    RequestStateError::Expired => StateRefused::Expired,
                    _ => StateRefused::Invalid,
                })?;
        if self
            .spent
            .redeem(&sealed.n, Duration::from_millis(sealed.t))?
        {
            Ok(sealed.d)
        } else {
            Err(StateRefused::Spent)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    fn args(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    fn binding<'a>(arguments: &'a JsonObject) -> Binding<'a> {
        Binding {
            tool: "delete_tenant_secret",
            key: "user.db",
            purpose: "confirm",
            arguments: Some(arguments),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_state_opens_once_for_its_own_call() {
        let states = States::new().unwrap();
        let a = args(json!({"key": "user.db"}));
        let sealed = states
            .seal(&binding(&a), &json!({"step": 2}), HOUR)
            .unwrap();
        assert!(states.valid(&sealed, &binding(&a)));
        assert!(
            states.valid(&sealed, &binding(&a)),
            "checking spends nothing"
        );
        let opened: Value = states.open(&sealed, &binding(&a)).unwrap();
        assert_eq!(opened, json!({"step": 2}));
        assert!(!states.valid(&sealed, &binding(&a)), "spent");
        assert_eq!(
            states.open::<Value>(&sealed, &binding(&a)).unwrap_err(),
            StateRefused::Spent
        );
    }

    #[test]
    fn argument_order_does_not_matter_but_their_content_does() {
        let states = States::new().unwrap();
        let a = args(
            json!({"key": "user.db", "mode": "upsert", "generate": {"length": 20, "alphabet": "hex"}}),
        );
        let reordered: JsonObject = serde_json::from_str(
            r#"{"generate": {"alphabet": "hex", "length": 20}, "mode": "upsert", "key": "user.db"}"#,
        )
        .unwrap();
        let sealed = states.seal(&binding(&a), &1, HOUR).unwrap();
        assert_eq!(states.open::<u8>(&sealed, &binding(&reordered)).unwrap(), 1);

        let sealed = states.seal(&binding(&a), &1, HOUR).unwrap();
        let other = args(
            json!({"key": "user.db", "mode": "create", "generate": {"length": 20, "alphabet": "hex"}}),
        );
        assert_eq!(
            states.open::<u8>(&sealed, &binding(&other)).unwrap_err(),
            StateRefused::Invalid
        );
    }

    #[test]
    fn a_state_is_bound_to_tool_key_and_purpose() {
        let states = States::new().unwrap();
        let a = args(json!({"key": "user.db"}));
        let made = binding(&a);
        for rebound in [
            Binding {
                tool: "set_tenant_secret",
                ..made
            },
            Binding {
                key: "user.other",
                ..made
            },
            Binding {
                purpose: "askUser",
                ..made
            },
            Binding {
                arguments: None,
                ..made
            },
        ] {
            let sealed = states.seal(&made, &1, HOUR).unwrap();
            assert!(!states.valid(&sealed, &rebound), "{rebound:?}");
            assert_eq!(
                states.open::<u8>(&sealed, &rebound).unwrap_err(),
                StateRefused::Invalid,
                "{rebound:?}"
            );
        }
    }

    #[test]
    fn tampered_foreign_and_expired_states_are_refused() {
        let states = States::new().unwrap();
        let a = args(json!({"key": "user.db"}));
        let sealed = states.seal(&binding(&a), &1, HOUR).unwrap();
        // One character changed anywhere.
        for at in [0, sealed.len() / 2, sealed.len() - 1] {
            let mut bytes = sealed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert_eq!(
                states.open::<u8>(&tampered, &binding(&a)).unwrap_err(),
                StateRefused::Invalid
            );
        }
        // Made by another process (another key).
        let other = States::new().unwrap();
        assert_eq!(
            other.open::<u8>(&sealed, &binding(&a)).unwrap_err(),
            StateRefused::Invalid
        );
        assert_eq!(
            states.open::<u8>("not a state", &binding(&a)).unwrap_err(),
            StateRefused::Invalid
        );
        // Expired: sealed with no time to live.
        let sealed = states
            .seal(&binding(&a), &1, Duration::from_millis(1))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            states.open::<u8>(&sealed, &binding(&a)).unwrap_err(),
            StateRefused::Expired
        );
    }

    #[test]
    fn a_full_store_refuses_rather_than_forgets() {
        let spent = MemorySpent::new(2);
        assert_eq!(spent.redeem("a", HOUR), Ok(true));
        assert_eq!(spent.redeem("b", HOUR), Ok(true));
        assert_eq!(spent.redeem("a", HOUR), Ok(false));
        assert_eq!(spent.redeem("c", HOUR), Err(StateRefused::Busy));
        // Expired entries make room.
        let spent = MemorySpent::new(1);
        assert_eq!(spent.redeem("a", Duration::ZERO), Ok(true));
        assert_eq!(spent.redeem("b", HOUR), Ok(true));
    }
}
