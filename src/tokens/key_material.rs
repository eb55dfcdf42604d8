//! Signing keys: generation, and the in-memory form used to sign and verify.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

use super::claims::TOKEN_TYPE_HEADER;
use super::jws::PreparedSigner;
use crate::store::StoredKey;

/// A key ready to sign and verify.
pub struct SigningKey {
    /// Key id (RFC 7638 thumbprint of the public key).
    pub kid: String,
    /// The one algorithm this key is used with.
    pub algorithm: Algorithm,
    /// Private half, as jsonwebtoken reads it (for the public JWK).
    pub encoding: EncodingKey,
    /// Private half, parsed once, to sign with.
    pub signer: PreparedSigner,
    /// Public half.
    pub decoding: DecodingKey,
    /// Public JWK with `kid`, `use` and `alg`; `None` for HS256, whose key is never published.
    pub public_jwk: Option<Jwk>,
    /// Unix time of publication.
    pub created_at_ms: i64,
    /// Unix time from which it signs.
    pub activates_at_ms: i64,
    /// The encoded JWS header of every access token it signs (RFC 9068 section 2.1: `typ`
    /// `at+jwt`, `alg`, `kid`): the same for each, so written once.
    pub access_header: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair for `algorithm` (EdDSA, ES256 or RS256), returned as a row ready to
/// store. An RSA key takes a moment: call it off the async workers.
pub fn generate_key(
    alg: Algorithm,
    created_at_ms: i64,
    activates_at_ms: i64,
) -> anyhow::Result<StoredKey> {
    let failed = |_| anyhow::anyhow!("generating a {alg:?} key failed");
    let pkcs8 = match alg {
        Algorithm::EdDSA => Ed25519KeyPair::generate()
            .and_then(|k| k.to_pkcs8v1())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .and_then(|k| k.to_pkcs8v1())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::RS256 => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .and_then(|k| k.as_der())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        other => anyhow::bail!("authd does not generate {other:?} keys"),
    };
    let key = SigningKey::from_pkcs8(alg, &pkcs8, String::new(), created_at_ms, activates_at_ms)?;
    let jwk = key.public_jwk.expect("asymmetric keys have a public JWK");
    Ok(StoredKey {
        kid: jwk.common.key_id.clone().unwrap_or_default(),
        algorithm: format!("{alg:?}"),
        private_key: pkcs8,
        public_jwk: serde_json::to_string(&jwk)?,
        created_at_ms,
        activates_at_ms,
    })
}

impl SigningKey {
    /// Loads a stored key.
    pub fn from_stored(stored: &StoredKey) -> anyhow::Result<Self> {
        let algorithm = match stored.algorithm.as_str() {
            "EdDSA" => Algorithm::EdDSA,
            "ES256" => Algorithm::ES256,
            "RS256" => Algorithm::RS256,
            other => anyhow::bail!(
                "stored key {} has unsupported algorithm {other}",
                stored.kid
            ),
        };
        Self::from_pkcs8(
            algorithm,
            &stored.private_key,
            stored.kid.clone(),
            stored.created_at_ms,
            stored.activates_at_ms,
        )
    }

    /// An HS256 key from the configured secret.
    pub fn from_hs256_secret(secret: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret);
        let kid = format!("hs256-{}", crate::hex::lower(&digest.as_ref()[..6]));
        Self {
            // Two strings and an enum always serialize; this runs once, at start-up.
            access_header: access_header(Algorithm::HS256, &kid)
                .expect("an HS256 access-token header serializes"),
            kid,
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            signer: PreparedSigner::hs256(secret),
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
            created_at_ms: 0,
            activates_at_ms: 0,
        }
    }

    /// Builds a key from PKCS#8 DER; an empty `kid` is replaced by the key's thumbprint.
    fn from_pkcs8(
        algorithm: Algorithm,
        pkcs8: &[u8],
        kid: String,
        created_at_ms: i64,
        activates_at_ms: i64,
    ) -> anyhow::Result<Self> {
        let pem = to_pem(pkcs8);
        let encoding = match algorithm {
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
            other => anyhow::bail!("unsupported algorithm {other:?}"),
        }?;
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm)?;
        let kid = if kid.is_empty() {
            jwk.thumbprint(ThumbprintHash::SHA256)?
        } else {
            kid
        };
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk)?;
        Ok(Self {
            access_header: access_header(algorithm, &kid)?,
            kid,
            algorithm,
            encoding,
            signer: PreparedSigner::from_pkcs8(algorithm, pkcs8)?,
            decoding,
            public_jwk: Some(jwk),
            created_at_ms,
            activates_at_ms,
        })
    }
}

/// The encoded header of an access token signed with key `kid`.
fn access_header(algorithm: Algorithm, kid: &str) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(algorithm);
    header.typ = Some(TOKEN_TYPE_HEADER.to_owned());
    header.kid = Some(kid.to_owned());
    PreparedSigner::encoded_header(&header)
}

// jsonwebtoken reads RSA keys from PKCS#1 only, except through PEM, which accepts PKCS#8.
fn to_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asymmetric_algorithm_generates_a_loadable_key_with_a_public_jwk() {
        for algorithm in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
            let stored = generate_key(algorithm, 1, 1).unwrap();
            let key = SigningKey::from_stored(&stored).unwrap();
            assert_eq!(key.kid, stored.kid);
            assert_eq!(key.algorithm, algorithm);
            assert!(
                !stored.public_jwk.contains("\"d\""),
                "private part leaked into JWK"
            );
            let jwk: serde_json::Value = serde_json::from_str(&stored.public_jwk).unwrap();
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], stored.kid.as_str());
            assert_eq!(jwk["alg"], format!("{algorithm:?}"));
        }
    }

    #[test]
    fn debug_does_not_print_key_material() {
        let stored = generate_key(Algorithm::EdDSA, 1, 1).unwrap();
        let shown = format!("{stored:?}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
