//! Signature verification for `jsonwebtoken`, by ring: its `CryptoProvider`
//! seam, filled with the crypto rustls already links, so tokens add no
//! second crypto stack (RustCrypto's `rsa`, or aws-lc's C build) to the
//! binary. Verification only, asymmetric only: HMAC and signing are
//! refused, whatever a token's header asks for.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};

/// The algorithms a token may be signed with: RSA (PKCS#1 v1.5 and PSS),
/// ECDSA on P-256 and P-384, Ed25519. Never `none`, never HMAC.
pub(crate) const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

static RING: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes ring `jsonwebtoken`'s provider for this process. Idempotent.
pub(crate) fn install() {
    let _ = RING.install_default();
}

fn no_signer(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    Err(ErrorKind::InvalidAlgorithm.into())
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if !ALLOWED.contains(algorithm) || key.family() != algorithm.family() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingVerifier {
        algorithm: *algorithm,
        key: key.kind().clone(),
    }))
}

struct RingVerifier {
    algorithm: Algorithm,
    key: DecodingKeyKind,
}

impl RingVerifier {
    /// The RSA parameters of an RSA algorithm.
    fn rsa(&self) -> Option<&'static ring_sig::RsaParameters> {
        Some(match self.algorithm {
            Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    fn params(&self) -> Option<&'static dyn ring_sig::VerificationAlgorithm> {
        if let Some(rsa) = self.rsa() {
            return Some(rsa);
        }
        Some(match self.algorithm {
            Algorithm::ES256 => &ring_sig::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &ring_sig::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &ring_sig::ED25519,
            _ => return None,
        })
    }
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let params = self.params().ok_or_else(signature::Error::new)?;
        let verified = match &self.key {
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                let rsa = self.rsa().ok_or_else(signature::Error::new)?;
                RsaPublicKeyComponents { n, e }.verify(rsa, message, signature)
            }
            DecodingKeyKind::SecretOrDer(bytes) => {
                UnparsedPublicKey::new(params, bytes).verify(message, signature)
            }
        };
        verified.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_and_mismatched_families_get_no_verifier() {
        let secret = DecodingKey::from_secret(b"a public key used as a secret").unwrap();
        for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert!(verifier(&algorithm, &secret).is_err());
        }
        let ec = DecodingKey::from_ec_components("AAAA", "AAAA").unwrap();
        assert!(verifier(&Algorithm::RS256, &ec).is_err());
        assert!(verifier(&Algorithm::ES256, &ec).is_ok());
        assert!(no_signer(&Algorithm::RS256, &EncodingKey::from_secret(b"x").unwrap()).is_err());
    }
}
