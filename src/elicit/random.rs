//! Unguessable tokens from the operating system's secure generator.

use rand::TryRngCore;
use rand::rngs::OsRng;

/// The OS generator failed; no unguessable token could be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's secure random generator failed")]
pub struct NoRandomness;

/// `bytes` bytes from the operating system's secure generator, as lower-case
/// hex: nonces of sealed states and the paths of one-time links.
pub fn unguessable(bytes: usize) -> Result<String, NoRandomness> {
    let mut raw = vec![0u8; bytes];
    OsRng.try_fill_bytes(&mut raw).map_err(|_| NoRandomness)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn unguessable_tokens_are_hex_of_the_length_asked_and_differ() {
        let a = unguessable(16).unwrap();
        let b = unguessable(16).unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
