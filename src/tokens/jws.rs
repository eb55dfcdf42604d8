//! Signing JWTs with a key parsed once. jsonwebtoken's `encode` builds its signer from the
//! encoded private key on every call: for Ed25519 that recomputes the public key (a scalar
//! multiplication, as costly as the signature itself), for RSA it parses and checks the whole
//! key. A profile of the client_credentials load put 12% of authd's CPU there (BENCHMARKS.md).
//! Here aws-lc-rs holds the parsed key, signs, and only the compact serialization
//! (RFC 7515 section 7.1: three base64url parts joined by dots) is ours; verification stays with
//! jsonwebtoken.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

/// A private key ready to sign with its one algorithm.
#[allow(clippy::large_enum_variant)] // a handful per process, each behind an Arc<SigningKey>
pub enum PreparedSigner {
    /// EdDSA (Ed25519).
    Ed25519(Ed25519KeyPair),
    /// ES256: fixed-length `r || s`, as JWS requires (RFC 7518 section 3.4).
    Es256(EcdsaKeyPair),
    /// RS256: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256(RsaKeyPair),
    /// HS256.
    Hs256(hmac::Key),
}

impl PreparedSigner {
    /// Parses a PKCS#8 private key for `algorithm` (EdDSA, ES256 or RS256).
    pub fn from_pkcs8(algorithm: Algorithm, pkcs8: &[u8]) -> anyhow::Result<Self> {
        let refused = |what: &str| anyhow::anyhow!("not a PKCS#8 {what} private key");
        Ok(match algorithm {
            Algorithm::EdDSA => {
                Self::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| refused("Ed25519"))?)
            }
            Algorithm::ES256 => Self::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| refused("P-256"))?,
            ),
            Algorithm::RS256 => {
                Self::Rs256(RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| refused("RSA"))?)
            }
            other => anyhow::bail!("unsupported algorithm {other:?}"),
        })
    }

    /// An HS256 key.
    pub fn hs256(secret: &[u8]) -> Self {
        Self::Hs256(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Ed25519(_) => Algorithm::EdDSA,
            Self::Es256(_) => Algorithm::ES256,
            Self::Rs256(_) => Algorithm::RS256,
            Self::Hs256(_) => Algorithm::HS256,
        }
    }

    /// `header` and `claims` as a signed compact JWS. The header must name this key's algorithm.
    pub fn encode<T: Serialize>(&self, header: &Header, claims: &T) -> Result<String, Error> {
        if header.alg != self.algorithm() {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        self.encode_with_header(&Self::encoded_header(header)?, claims)
    }

    /// `header`, base64url-encoded, for `encode_with_header`.
    pub fn encoded_header(header: &Header) -> Result<String, Error> {
        Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?))
    }

    /// Like `encode`, with the header already encoded (`encoded_header`); it must name this
    /// key's algorithm.
    pub fn encode_with_header<T: Serialize>(
        &self,
        encoded_header: &str,
        claims: &T,
    ) -> Result<String, Error> {
        let claims = serde_json::to_vec(claims)?;
        // Header, claims and an RSA-2048 signature, in base64url, with both dots.
        let mut token = String::with_capacity(encoded_header.len() + claims.len() * 4 / 3 + 352);
        token.push_str(encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = |_| Error::from(ErrorKind::Signing("signing failed".into()));
        Ok(match self {
            Self::Ed25519(key) => key.sign(message).as_ref().to_vec(),
            Self::Es256(key) => key
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Self::Rs256(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                signature
            }
            Self::Hs256(key) => hmac::sign(key, message).as_ref().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::key_material::{SigningKey, generate_key};
    use jsonwebtoken::{DecodingKey, Validation};

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            exp: 4_000_000_000,
        }
    }

    fn round_trip(key: &SigningKey, decoding: &DecodingKey) {
        let mut header = Header::new(key.algorithm);
        header.kid = Some(key.kid.clone());
        let token = key.signer.encode(&header, &claims()).unwrap();
        // jsonwebtoken, not this module, verifies.
        let mut validation = Validation::new(key.algorithm);
        validation.required_spec_claims.clear();
        let decoded = jsonwebtoken::decode::<Claims>(&token, decoding, &validation).unwrap();
        assert_eq!(decoded.claims, claims());
        assert_eq!(decoded.header.kid.as_deref(), Some(key.kid.as_str()));
        // The same as jsonwebtoken's own encoding, up to the signature (ES256 and RS256 with
        // PSS would differ; PKCS#1 v1.5 and Ed25519 are deterministic).
        let reference = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
        let prefix = |t: &str| t.rsplit_once('.').unwrap().0.to_owned();
        assert_eq!(prefix(&token), prefix(&reference));
        if key.algorithm != Algorithm::ES256 {
            assert_eq!(token, reference);
        }
    }

    #[test]
    fn tokens_verify_with_jsonwebtoken_for_every_algorithm() {
        for algorithm in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
            let stored = generate_key(algorithm, 0, 0).unwrap();
            let key = SigningKey::from_stored(&stored).unwrap();
            round_trip(&key, &key.decoding);
        }
        let key = SigningKey::from_hs256_secret(b"a secret of enough length for hs256");
        round_trip(&key, &key.decoding);
    }

    #[test]
    fn a_header_naming_another_algorithm_is_refused() {
        let key = SigningKey::from_stored(&generate_key(Algorithm::EdDSA, 0, 0).unwrap()).unwrap();
        let header = Header::new(Algorithm::RS256);
        assert!(key.signer.encode(&header, &claims()).is_err());
    }
}
