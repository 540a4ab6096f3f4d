//! Sealed `requestState` for the retry era (2026-07-28).
//!
//! The client echoes the state back on its retry, so to the server it is
//! attacker-controlled input. [`States`] seals it with rmcp's
//! `RequestStateCodec` (HMAC-SHA256 under a key drawn at start, never
//! written anywhere) and binds it, as associated data, to the tool, the key,
//! the purpose (confirmation or `askUser`) and a digest of the call's
//! arguments: a state made for one call opens for no other. An expiry is
//! sealed in. Single use is the server's part: every state carries a
//! nonce, and the [`Store`] remembers the nonces already redeemed until
//! their expiry, so a replayed state is refused; the state also names the
//! store's generation, so a store that lost its memory refuses states
//! sealed before.
//!
//! The payload is signed, not encrypted (base64url-readable by anyone):
//! never put a value in it.
//!
//! Across processes the store is shared and so is the key: [`SealingKeys`]
//! reads it from the operator's key file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::model::{JsonObject, RequestStateCodec, RequestStateError, SealOptions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::random::{NoRandomness, unguessable};
use super::reach::Caller;
use crate::store::{Redeemed, Store, StoreError};
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
    /// Who called: the state is bound to its session (when it came on
    /// one), and spending it counts against the caller.
    pub caller: Option<&'a Caller>,
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
        // A state made on a session opens on that session only.
        let session = self
            .caller
            .and_then(|c| c.session.as_deref())
            .unwrap_or_default();
        digest.update((session.len() as u64).to_be_bytes());
        digest.update(session.as_bytes());
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
    /// Forged, altered, not a state of this server (sealed under a key it
    /// does not hold), or made for another tool, key, purpose or arguments.
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
    /// Sealed before the state store started over empty: whether it was
    /// used since cannot be told, so it is never used.
    #[error(
        "the requestState was made before this server's state store was reset, so whether it was already used cannot be told and nothing was changed. Call the tool again without requestState."
    )]
    Forgotten,
    /// Too many states are outstanding to remember another.
    #[error(
        "the server is tracking too many pending requests to take this one, so nothing was changed. Retry in a minute."
    )]
    Busy,
    /// The store that remembers spent states did not answer.
    #[error(
        "{0}, so the requestState cannot be checked and nothing was changed. Retry in a minute; if it goes on, ask the operator to check the state store."
    )]
    Store(StoreError),
}

impl From<StoreError> for StateRefused {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Full => StateRefused::Busy,
            other => StateRefused::Store(other),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed<T> {
    /// The nonce that makes the state single-use.
    n: String,
    /// How long it lives, in milliseconds (so the nonce is kept as long).
    t: u64,
    /// The store's generation when it was sealed.
    g: String,
    /// The caller's payload.
    d: T,
}

/// Seals and opens `requestState`. One per process; cheap to share.
pub struct States {
    codec: RequestStateCodec,
    records: super::records::RecordKeys,
    store: Store,
    /// Per caller, when each state it spent stops counting (its expiry).
    spent_by: Mutex<HashMap<String, Vec<Instant>>>,
}

/// Most unexpired states one caller (a session, or an address) may have
/// spent in this process: a hundredth of what the memory store holds, so
/// one client cannot fill the store and lock everyone else out.
pub const SPENT_PER_CALLER: usize = 1_000;

impl States {
    /// A fresh signing key from the OS generator, and single use remembered
    /// in memory.
    pub fn new() -> Result<States, NoRandomness> {
        States::with_store(SealingKeys::fresh()?, Store::memory())
    }

    /// States sealed with the first of `keys` (opened with any), single use
    /// remembered by `store`.
    pub fn with_store(keys: SealingKeys, store: Store) -> Result<States, NoRandomness> {
        let codec = keys.codec().map_err(|_| NoRandomness)?;
        let records = super::records::RecordKeys::derive(&keys.0).ok_or(NoRandomness)?;
        Ok(States {
            codec,
            records,
            store,
            spent_by: Mutex::default(),
        })
    }

    /// Seals `payload` for the call `binding` describes, valid for `ttl`.
    pub async fn seal<T: Serialize>(
        &self,
        binding: &Binding<'_>,
        payload: &T,
        ttl: Duration,
    ) -> Result<String, SealError> {
        let generation = self.store.generation().await?;
        let sealed = Sealed {
            n: unguessable(16)?,
            t: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            g: generation,
            d: payload,
        };
        let associated = binding.associated_data();
        self.codec
            .seal_json_with(
                &sealed,
                &SealOptions::new().associated_data(&associated).ttl(ttl),
            )
            .map_err(|_| SealError::NoRandomness(NoRandomness))
    }

    /// Whether `echoed` would open for the call `binding` describes: sealed
    /// here, bound to this call, unexpired and not yet spent (as far as the
    /// store can say). Spends nothing (so two racing retries may both pass
    /// this; only one opens).
    pub async fn valid(&self, echoed: &str, binding: &Binding<'_>) -> bool {
        let associated = binding.associated_data();
        let Ok(sealed) = self
            .codec
            .open_json_with::<Sealed<serde::de::IgnoredAny>>(echoed, &associated)
        else {
            return false;
        };
        matches!(self.store.used(&sealed.n).await, Ok(false))
    }

    /// Opens a state the client echoed for the call `binding` describes,
    /// and spends it: the same state never opens twice, in this process or
    /// in any other on the same store.
    pub async fn open<T: DeserializeOwned>(
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
        let ttl = Duration::from_millis(sealed.t);
        let counted_as = binding.caller.and_then(|c| c.counted_as.as_deref());
        if let Some(caller) = counted_as
            && !self.room_for(caller)
        {
            return Err(StateRefused::Busy);
        }
        match self.store.redeem(&sealed.g, &sealed.n, ttl).await? {
            Redeemed::First => {
                if let Some(caller) = counted_as {
                    self.count(caller, ttl);
                }
                Ok(sealed.d)
            }
            Redeemed::Again => Err(StateRefused::Spent),
            Redeemed::OtherGeneration => Err(StateRefused::Forgotten),
        }
    }
}

impl States {
    /// Seals `payload` as a record for the state store: encrypted, so that
    /// only this server's keys read it, and bound to `purpose` and `name`
    /// (a record moved under another name does not open), until `ttl` from
    /// now. Not single use: the store's own atomic operations decide what
    /// happens once.
    pub fn seal_record<T: Serialize>(
        &self,
        purpose: &str,
        name: &str,
        payload: &T,
        ttl: Duration,
    ) -> Result<String, NoRandomness> {
        self.records
            .seal(&record_binding(purpose, name), payload, ttl)
    }

    /// Opens a record [`Self::seal_record`] sealed under `purpose` and
    /// `name`; `None` for one sealed with other keys, changed, moved or
    /// expired.
    pub fn open_record<T: DeserializeOwned>(
        &self,
        purpose: &str,
        name: &str,
        sealed: &str,
    ) -> Option<T> {
        self.records.open(&record_binding(purpose, name), sealed)
    }

    /// Whether `caller` may spend another state (forgetting what expired).
    fn room_for(&self, caller: &str) -> bool {
        let now = Instant::now();
        let mut spent = lock(&self.spent_by);
        spent.retain(|_, until| {
            until.retain(|t| *t > now);
            !until.is_empty()
        });
        spent.get(caller).map_or(0, Vec::len) < SPENT_PER_CALLER
    }

    fn count(&self, caller: &str, ttl: Duration) {
        lock(&self.spent_by)
            .entry(caller.to_owned())
            .or_default()
            .push(Instant::now() + ttl);
    }
}

fn record_binding(purpose: &str, name: &str) -> Vec<u8> {
    format!("osc-secrets-mcp record\0{purpose}\0{name}").into_bytes()
}

/// Why no state could be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    NoRandomness(#[from] NoRandomness),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The keys that seal `requestState` (and name nothing else): the first
/// seals, every one opens, so a key can be rotated across replicas without
/// refusing the states in flight.
pub struct SealingKeys(Vec<Vec<u8>>);

/// Why a sealing-key file was refused. Never quotes the file.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error(
        "it holds no key: write one key a line (generate one with `osc-secrets-mcp new-state-key`)"
    )]
    Empty,
    #[error(
        "line {0} is not a key: each line must be 32 random bytes written as 64 hex characters or as base64 (generate one with `osc-secrets-mcp new-state-key`)"
    )]
    Malformed(usize),
    #[error("line {0} repeats line {1}: write each key once")]
    Repeated(usize, usize),
}

impl SealingKeys {
    /// One fresh key from the OS generator: states open in this process only.
    pub fn fresh() -> Result<SealingKeys, NoRandomness> {
        Ok(SealingKeys(vec![random_key()?]))
    }

    /// Reads a key file's text: one key a line, 64 hex characters or
    /// base64 of 32 bytes; blank lines and lines starting with `#` are
    /// skipped.
    pub fn parse(text: &str) -> Result<SealingKeys, KeyFileError> {
        let mut keys: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = decode_key(line).ok_or(KeyFileError::Malformed(i + 1))?;
            if let Some((j, _)) = keys.iter().find(|(_, k)| *k == key) {
                return Err(KeyFileError::Repeated(i + 1, *j));
            }
            keys.push((i + 1, key));
        }
        if keys.is_empty() {
            return Err(KeyFileError::Empty);
        }
        Ok(SealingKeys(keys.into_iter().map(|(_, k)| k).collect()))
    }

    /// A fresh key as a key file's line (64 hex characters).
    pub fn new_line() -> Result<String, NoRandomness> {
        unguessable(32)
    }

    fn codec(&self) -> Result<RequestStateCodec, RequestStateError> {
        let ring: Vec<(String, Vec<u8>)> = self.0.iter().map(|k| (key_id(k), k.clone())).collect();
        let active = ring.first().map(|(id, _)| id.clone()).unwrap_or_default();
        RequestStateCodec::new_with_keyring(active, ring)
    }
}

/// A key's name in sealed states: a digest, which tells nothing of the key.
fn key_id(key: &[u8]) -> String {
    let digest = Sha256::digest([b"osc-secrets-mcp key id ".as_slice(), key].concat());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

fn random_key() -> Result<Vec<u8>, NoRandomness> {
    let mut raw = vec![0u8; 32];
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut raw).map_err(|_| NoRandomness)?;
    Ok(raw)
}

fn decode_key(line: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let bytes = if line.len() == 64 && line.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(line)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(line))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(line))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(line))
            .ok()?
    };
    (bytes.len() == 32).then_some(bytes)
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
            caller: None,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_state_opens_once_for_its_own_call() {
        let states = States::new().unwrap();
        let a = args(json!({"key": "user.db"}));
        let sealed = states
            .seal(&binding(&a), &json!({"step": 2}), HOUR)
            .await
            .unwrap();
        assert!(states.valid(&sealed, &binding(&a)).await);
        assert!(
            states.valid(&sealed, &binding(&a)).await,
            "checking spends nothing"
        );
        let opened: Value = states.open(&sealed, &binding(&a)).await.unwrap();
        assert_eq!(opened, json!({"step": 2}));
        assert!(!states.valid(&sealed, &binding(&a)).await, "spent");
        assert_eq!(
            states
                .open::<Value>(&sealed, &binding(&a))
                .await
                .unwrap_err(),
            StateRefused::Spent
        );
    }

    #[tokio::test]
    async fn argument_order_does_not_matter_but_their_content_does() {
        let states = States::new().unwrap();
        let a = args(
            json!({"key": "user.db", "mode": "upsert", "generate": {"length": 20, "alphabet": "hex"}}),
        );
        let reordered: JsonObject = serde_json::from_str(
            r#"{"generate": {"alphabet": "hex", "length": 20}, "mode": "upsert", "key": "user.db"}"#,
        )
        .unwrap();
        let sealed = states.seal(&binding(&a), &1, HOUR).await.unwrap();
        assert_eq!(
            states
                .open::<u8>(&sealed, &binding(&reordered))
                .await
                .unwrap(),
            1
        );

        let sealed = states.seal(&binding(&a), &1, HOUR).await.unwrap();
        let other = args(
            json!({"key": "user.db", "mode": "create", "generate": {"length": 20, "alphabet": "hex"}}),
        );
        assert_eq!(
            states
                .open::<u8>(&sealed, &binding(&other))
                .await
                .unwrap_err(),
            StateRefused::Invalid
        );
    }

    #[tokio::test]
    async fn a_state_is_bound_to_tool_key_and_purpose() {
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
            let sealed = states.seal(&made, &1, HOUR).await.unwrap();
            assert!(!states.valid(&sealed, &rebound).await, "{rebound:?}");
            assert_eq!(
                states.open::<u8>(&sealed, &rebound).await.unwrap_err(),
                StateRefused::Invalid,
                "{rebound:?}"
            );
        }
    }

    #[tokio::test]
    async fn tampered_foreign_and_expired_states_are_refused() {
        let states = States::new().unwrap();
        let a = args(json!({"key": "user.db"}));
        let sealed = states.seal(&binding(&a), &1, HOUR).await.unwrap();
        // One character changed anywhere.
        for at in [0, sealed.len() / 2, sealed.len() - 1] {
            let mut bytes = sealed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert_eq!(
                states
                    .open::<u8>(&tampered, &binding(&a))
                    .await
                    .unwrap_err(),
                StateRefused::Invalid
            );
        }
        // Made by another process (another key).
        let other = States::new().unwrap();
        assert_eq!(
            other.open::<u8>(&sealed, &binding(&a)).await.unwrap_err(),
            StateRefused::Invalid
        );
        assert_eq!(
            states
                .open::<u8>("not a state", &binding(&a))
                .await
                .unwrap_err(),
            StateRefused::Invalid
        );
        // Expired: sealed with no time to live.
        let sealed = states
            .seal(&binding(&a), &1, Duration::from_millis(1))
            .await
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            states.open::<u8>(&sealed, &binding(&a)).await.unwrap_err(),
            StateRefused::Expired
        );
    }

    #[tokio::test]
    async fn a_full_store_refuses_rather_than_forgets() {
        let store = Store::memory_with_cap(1);
        let states = States::with_store(SealingKeys::fresh().unwrap(), store).unwrap();
        let a = args(json!({"key": "user.db"}));
        let first = states.seal(&binding(&a), &1, HOUR).await.unwrap();
        let second = states.seal(&binding(&a), &1, HOUR).await.unwrap();
        assert_eq!(states.open::<u8>(&first, &binding(&a)).await.unwrap(), 1);
        assert_eq!(
            states.open::<u8>(&second, &binding(&a)).await.unwrap_err(),
            StateRefused::Busy
        );
    }

    #[tokio::test]
    async fn every_key_of_the_file_opens_and_the_first_seals() {
        let old = SealingKeys::new_line().unwrap();
        let new = SealingKeys::new_line().unwrap();
        let store = Store::memory();
        let before = States::with_store(SealingKeys::parse(&old).unwrap(), store.clone()).unwrap();
        let rotated = States::with_store(
            SealingKeys::parse(&format!("# new first\n{new}\n\n{old}\n")).unwrap(),
            store.clone(),
        )
        .unwrap();
        let after = States::with_store(SealingKeys::parse(&new).unwrap(), store).unwrap();
        let a = args(json!({"key": "user.db"}));
        let sealed = before.seal(&binding(&a), &1, HOUR).await.unwrap();
        assert_eq!(rotated.open::<u8>(&sealed, &binding(&a)).await.unwrap(), 1);
        let sealed = rotated.seal(&binding(&a), &2, HOUR).await.unwrap();
        assert_eq!(after.open::<u8>(&sealed, &binding(&a)).await.unwrap(), 2);
        let sealed = before.seal(&binding(&a), &3, HOUR).await.unwrap();
        assert_eq!(
            after.open::<u8>(&sealed, &binding(&a)).await.unwrap_err(),
            StateRefused::Invalid,
            "a key taken out of the file opens nothing"
        );
    }

    #[tokio::test]
    async fn a_state_sealed_before_the_store_started_over_is_never_used() {
        let keys = SealingKeys::new_line().unwrap();
        let states =
            States::with_store(SealingKeys::parse(&keys).unwrap(), Store::memory()).unwrap();
        let a = args(json!({"key": "user.db"}));
        let sealed = states.seal(&binding(&a), &1, HOUR).await.unwrap();
        // The same key, a store that starts over empty (a new generation).
        let restarted =
            States::with_store(SealingKeys::parse(&keys).unwrap(), Store::memory()).unwrap();
        assert_eq!(
            restarted
                .open::<u8>(&sealed, &binding(&a))
                .await
                .unwrap_err(),
            StateRefused::Forgotten
        );
    }

    #[test]
    fn key_files_take_hex_and_base64_and_refuse_anything_else_without_quoting_it() {
        use base64::Engine;
        let hex = "ab".repeat(32);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(
            SealingKeys::parse(&format!("{hex}\n  {b64}  \n"))
                .unwrap()
                .0
                .len(),
            2
        );
        assert_eq!(
            SealingKeys::parse("\n# nothing\n").err(),
            Some(KeyFileError::Empty)
        );
        let short = "ab".repeat(16);
        let refused = SealingKeys::parse(&format!("{hex}\n{short}\n"))
            .err()
            .unwrap();
        assert_eq!(refused, KeyFileError::Malformed(2));
        assert!(!refused.to_string().contains(&short));
        assert_eq!(
            SealingKeys::parse(&format!("{hex}\n{hex}\n")).err(),
            Some(KeyFileError::Repeated(2, 1))
        );
        let line = SealingKeys::new_line().unwrap();
        assert_eq!(line.len(), 64);
        assert!(SealingKeys::parse(&line).is_ok());
    }

    /// A state made on one session opens on that session only.
    #[tokio::test]
    async fn a_state_is_bound_to_the_session_that_received_it() {
        let states = States::new().unwrap();
        let a = args(json!({"key": "user.db"}));
        let on = |session: &str| Caller {
            session: Some(session.to_owned()),
            counted_as: Some(format!("session {session}")),
        };
        let (one, two) = (on("s1"), on("s2"));
        let made = Binding {
            caller: Some(&one),
            ..binding(&a)
        };
        let sealed = states.seal(&made, &1, HOUR).await.unwrap();
        for other in [Some(&two), None] {
            let elsewhere = Binding {
                caller: other,
                ..binding(&a)
            };
            assert_eq!(
                states.open::<u8>(&sealed, &elsewhere).await.unwrap_err(),
                StateRefused::Invalid
            );
        }
        assert_eq!(states.open::<u8>(&sealed, &made).await.unwrap(), 1);
    }

    /// One caller spends at most its share of states; another still can.
    #[tokio::test]
    async fn one_caller_cannot_fill_the_spent_states() {
        let states = States::new().unwrap();
        let a = args(json!({"key": "user.db"}));
        let by = |who: &str| Caller {
            session: None,
            counted_as: Some(format!("address {who}")),
        };
        let (greedy, other) = (by("192.0.2.1"), by("192.0.2.2"));
        let as_greedy = Binding {
            caller: Some(&greedy),
            ..binding(&a)
        };
        for _ in 0..SPENT_PER_CALLER {
            let sealed = states.seal(&as_greedy, &1, HOUR).await.unwrap();
            assert_eq!(states.open::<u8>(&sealed, &as_greedy).await.unwrap(), 1);
        }
        let sealed = states.seal(&as_greedy, &1, HOUR).await.unwrap();
        assert_eq!(
            states.open::<u8>(&sealed, &as_greedy).await.unwrap_err(),
            StateRefused::Busy
        );
        let as_other = Binding {
            caller: Some(&other),
            ..binding(&a)
        };
        let sealed = states.seal(&as_other, &1, HOUR).await.unwrap();
        assert_eq!(states.open::<u8>(&sealed, &as_other).await.unwrap(), 1);
    }
}
