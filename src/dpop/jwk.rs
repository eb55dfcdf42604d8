//! The public key in a proof's `jwk` header: checked to be public, turned into a verification
//! key, and named by its RFC 7638 thumbprint.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::error::DpopError;

/// Members that only a private (or symmetric) key has (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof's public key.
pub struct ProofKey {
    /// Verifies the proof's signature.
    pub decoding: DecodingKey,
    /// Base64url SHA-256 JWK thumbprint (RFC 7638), the `jkt` of bound tokens.
    pub thumbprint: String,
}

fn invalid(reason: &'static str) -> DpopError {
    DpopError::InvalidProof(reason)
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, DpopError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .ok_or(invalid("the jwk header lacks a member its key type needs"))
}

/// The key of a proof signed with `algorithm`; refuses private keys and keys of another type.
pub fn proof_key(jwk: &Value, algorithm: Algorithm) -> Result<ProofKey, DpopError> {
    let jwk = jwk
        .as_object()
        .ok_or(invalid("the jwk header is not a JSON object"))?;
    // RFC 9449 section 4.3 check 7: the header must not carry a private key.
    if PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
        return Err(invalid("the jwk header must hold a public key only"));
    }
    let kty = member(jwk, "kty")?;
    // RFC 7638 section 3.2: the required members, in lexicographic order, as compact JSON.
    let (decoding, canonical) = match (algorithm, kty) {
        (Algorithm::ES256, "EC") => {
            let (crv, x, y) = (member(jwk, "crv")?, member(jwk, "x")?, member(jwk, "y")?);
            if crv != "P-256" {
                return Err(invalid("ES256 needs a P-256 key"));
            }
            let decoding = DecodingKey::from_ec_components(x, y)
                .map_err(|_| invalid("the jwk header is not a valid EC key"))?;
            let canonical = format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                json(crv),
                json(x),
                json(y)
            );
            (decoding, canonical)
        }
        (Algorithm::EdDSA, "OKP") => {
            let (crv, x) = (member(jwk, "crv")?, member(jwk, "x")?);
            if crv != "Ed25519" {
                return Err(invalid("EdDSA is accepted with Ed25519 keys only"));
            }
            let decoding = DecodingKey::from_ed_components(x)
                .map_err(|_| invalid("the jwk header is not a valid Ed25519 key"))?;
            let canonical = format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, json(crv), json(x));
            (decoding, canonical)
        }
        (Algorithm::RS256, "RSA") => {
            let (e, n) = (member(jwk, "e")?, member(jwk, "n")?);
            let decoding = DecodingKey::from_rsa_components(n, e)
                .map_err(|_| invalid("the jwk header is not a valid RSA key"))?;
            let canonical = format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, json(e), json(n));
            (decoding, canonical)
        }
        _ => return Err(invalid("the jwk header's key type does not match alg")),
    };
    Ok(ProofKey {
        decoding,
        thumbprint: sha256_base64url(canonical.as_bytes()),
    })
}

fn json(value: &str) -> String {
    Value::from(value).to_string()
}

/// Base64url (no padding) SHA-256 of `bytes`: thumbprints and `ath`.
pub fn sha256_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, bytes).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint_is_reproduced() {
        // RFC 7638 section 3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = proof_key(&jwk, Algorithm::RS256).unwrap();
        assert_eq!(
            key.thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn private_members_and_mismatched_key_types_are_refused() {
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"});
        assert!(proof_key(&ec, Algorithm::ES256).is_err());
        let okp = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"});
        assert!(proof_key(&okp, Algorithm::ES256).is_err());
        let oct = serde_json::json!({"kty": "oct", "k": "AA"});
        assert!(proof_key(&oct, Algorithm::RS256).is_err());
    }
}
