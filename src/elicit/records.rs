//! Records the server keeps in its state store and only it can read:
//! encrypted and authenticated (ChaCha20-Poly1305) under keys derived from
//! the sealing keys (HKDF-SHA256), so that replicas sharing a key file
//! share them. A store's reader learns nothing of a record (a one-time
//! link's job names the client's session), and a store's writer cannot
//! change one, move it under another name, or make one up.
//!
//! `requestState` is sealed by rmcp's codec, which signs but does not
//! encrypt (the client may read what it echoes). A stored record needs
//! secrecy too, so it has this small AEAD wrapper over `ring`, which the
//! TLS stack already builds: no new crypto code, only the framing (a
//! random 96-bit nonce before the ciphertext, base64url).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::NoRandomness;

/// The record keys: the first seals, every one opens.
pub(super) struct RecordKeys(Vec<LessSafeKey>);

/// What is encrypted: the payload and when it stops opening.
#[derive(Serialize, Deserialize)]
struct Inner<T> {
    /// Milliseconds since the Unix epoch.
    until: u64,
    d: T,
}

impl RecordKeys {
    /// Keys derived from the sealing keys `raw`, in their order.
    pub(super) fn derive(raw: &[Vec<u8>]) -> Option<RecordKeys> {
        let salt = Salt::new(HKDF_SHA256, b"osc-secrets-mcp stored records v1");
        let keys: Option<Vec<LessSafeKey>> = raw
            .iter()
            .map(|secret| {
                let prk = salt.extract(secret);
                let okm = prk
                    .expand(&[b"chacha20-poly1305"], &CHACHA20_POLY1305)
                    .ok()?;
                Some(LessSafeKey::new(UnboundKey::from(okm)))
            })
            .collect();
        keys.filter(|k| !k.is_empty()).map(RecordKeys)
    }

    /// `payload` encrypted for `binding`, opening until `ttl` from now.
    pub(super) fn seal<T: Serialize>(
        &self,
        binding: &[u8],
        payload: &T,
        ttl: Duration,
    ) -> Result<String, NoRandomness> {
        let key = self.0.first().ok_or(NoRandomness)?;
        let until = now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let mut data =
            serde_json::to_vec(&Inner { until, d: payload }).map_err(|_| NoRandomness)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut nonce)
            .map_err(|_| NoRandomness)?;
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(binding),
            &mut data,
        )
        .map_err(|_| NoRandomness)?;
        let mut framed = nonce.to_vec();
        framed.extend_from_slice(&data);
        Ok(URL_SAFE_NO_PAD.encode(framed))
    }

    /// The payload of a record sealed for `binding` with any of the keys,
    /// unexpired; `None` otherwise.
    pub(super) fn open<T: DeserializeOwned>(&self, binding: &[u8], sealed: &str) -> Option<T> {
        let framed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if framed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = framed.split_at(NONCE_LEN);
        self.0.iter().find_map(|key| {
            let mut data = data.to_vec();
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            let plain = key
                .open_in_place(nonce, Aad::from(binding), &mut data)
                .ok()?;
            let inner: Inner<T> = serde_json::from_slice(plain).ok()?;
            (inner.until > now_ms()).then_some(inner.d)
        })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn keys(raw: &[&[u8; 32]]) -> RecordKeys {
        RecordKeys::derive(&raw.iter().map(|k| k.to_vec()).collect::<Vec<_>>()).unwrap()
    }

    /// A record opens with the keys that sealed it (the first, or any after
    /// a rotation), for its own binding, before it expires; and nothing of
    /// it can be read in what is stored.
    #[test]
    fn a_record_opens_only_with_its_keys_binding_and_time() {
        let (a, b) = (&[1u8; 32], &[2u8; 32]);
        let sealed = keys(&[a])
            .seal(b"link 1", &"session-7f3a9c", Duration::from_secs(60))
            .unwrap();
        assert!(!sealed.contains("session"), "{sealed}");
        let decoded = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        assert!(!String::from_utf8_lossy(&decoded).contains("session-7f3a9c"));

        assert_eq!(
            keys(&[a]).open::<String>(b"link 1", &sealed).as_deref(),
            Some("session-7f3a9c")
        );
        assert_eq!(
            keys(&[b, a]).open::<String>(b"link 1", &sealed).as_deref(),
            Some("session-7f3a9c"),
            "a rotated key ring still opens it"
        );
        assert!(keys(&[b]).open::<String>(b"link 1", &sealed).is_none());
        assert!(keys(&[a]).open::<String>(b"link 2", &sealed).is_none());

        let mut changed = decoded.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(
            keys(&[a])
                .open::<String>(b"link 1", &URL_SAFE_NO_PAD.encode(changed))
                .is_none()
        );
        assert!(keys(&[a]).open::<String>(b"link 1", "short").is_none());

        let expired = keys(&[a]).seal(b"link 1", &"x", Duration::ZERO).unwrap();
        assert!(keys(&[a]).open::<String>(b"link 1", &expired).is_none());
    }
}
