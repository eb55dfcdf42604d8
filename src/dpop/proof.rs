//! Checking one DPoP proof JWT (RFC 9449 section 4.3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use super::error::DpopError;
use super::htu::normalize;
use super::jwk::{proof_key, sha256_base64url};

/// Longest proof read: an RSA-4096 key in the header fits with room to spare.
pub const MAX_PROOF_BYTES: usize = 4096;

/// Longest `jti` accepted (section 4.2 asks for 96 random bits, a few dozen characters).
const MAX_JTI_BYTES: usize = 256;

/// The `typ` of a proof (section 4.2).
const PROOF_TYPE: &str = "dpop+jwt";

/// The request a proof must be for, and what else it must carry.
pub struct Expected<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's URI (normalised with `htu::normalize`).
    pub uri: &'a str,
    /// Unix seconds now.
    pub now: i64,
    /// Seconds a proof is accepted after its `iat`.
    pub max_age: i64,
    /// Seconds its `iat` may lie in the future.
    pub leeway: i64,
    /// The access token presented with it, whose hash `ath` must be (section 7).
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check, except the nonce and replay, which the caller applies.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    /// The thumbprint of its key: the `jkt` tokens are bound to.
    pub jkt: String,
    /// What identifies it for replay detection: SHA-256 over its key and its `jti`.
    pub replay_key: String,
    /// Until when it would be accepted (and must be remembered).
    pub expires_at: i64,
    /// The server nonce it carries.
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: Option<String>,
    jwk: Option<Value>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

fn invalid(reason: &'static str) -> DpopError {
    DpopError::InvalidProof(reason)
}

/// The algorithms accepted (section 4.3 check 5: asymmetric, and supported here).
pub fn algorithm_of(name: &str) -> Option<Algorithm> {
    match name {
        "ES256" => Some(Algorithm::ES256),
        "EdDSA" => Some(Algorithm::EdDSA),
        "RS256" => Some(Algorithm::RS256),
        _ => None,
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Checks `proof` against `expected`; the one signature verification a request costs.
pub fn verify_proof(proof: &str, expected: &Expected<'_>) -> Result<VerifiedProof, DpopError> {
    // Check 2: a single well-formed JWT.
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid("the DPoP proof is too long"));
    }
    let mut parts = proof.split('.');
    let (Some(header_part), Some(claims_part), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the DPoP proof is not a compact JWS"));
    };
    let header: ProofHeader =
        decode_json(header_part).ok_or(invalid("the DPoP proof's header is malformed"))?;
    let claims: ProofClaims =
        decode_json(claims_part).ok_or(invalid("the DPoP proof's claims are malformed"))?;
    // Check 4: typ.
    if header.typ.as_deref() != Some(PROOF_TYPE) {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    // Check 5: an asymmetric algorithm authd supports (never none, never HMAC).
    let algorithm = header.alg.as_deref().and_then(algorithm_of).ok_or(invalid(
        "the DPoP proof's alg must be ES256, EdDSA or RS256",
    ))?;
    // Checks 6 and 7: signed by the public key in its header.
    let jwk = header
        .jwk
        .ok_or(invalid("the DPoP proof's header has no jwk"))?;
    let key = proof_key(&jwk, algorithm)?;
    let signing_input = &proof[..header_part.len() + 1 + claims_part.len()];
    let signed = jsonwebtoken::crypto::verify(
        signature,
        signing_input.as_bytes(),
        &key.decoding,
        algorithm,
    )
    .unwrap_or(false);
    if !signed {
        return Err(invalid("the DPoP proof's signature does not verify"));
    }
    // Check 3: the required claims.
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_BYTES)
        .ok_or(invalid("the DPoP proof needs a jti of at most 256 bytes"))?;
    // Check 8: the method of this request.
    if claims.htm.as_deref() != Some(expected.method) {
        return Err(invalid("the DPoP proof's htm is not this request's method"));
    }
    // Check 9: the URI of this request, without query and fragment.
    let htu = claims.htu.as_deref().and_then(normalize);
    if htu.as_deref() != Some(expected.uri) {
        return Err(invalid("the DPoP proof's htu is not this request's URI"));
    }
    // Check 11: created within the acceptable window.
    let iat = claims
        .iat
        .and_then(|n| n.as_f64())
        .filter(|n| n.is_finite())
        .map(|n| n.floor() as i64)
        .ok_or(invalid("the DPoP proof needs a numeric iat"))?;
    if iat > expected.now.saturating_add(expected.leeway) {
        return Err(invalid("the DPoP proof's iat is in the future"));
    }
    let expires_at = iat.saturating_add(expected.max_age);
    if expires_at < expected.now {
        return Err(invalid("the DPoP proof is too old"));
    }
    // Check 12: bound to the access token presented with it.
    if let Some(token) = expected.access_token {
        match claims.ath {
            None => return Err(invalid("the DPoP proof needs ath with an access token")),
            Some(ath) if ath != sha256_base64url(token.as_bytes()) => {
                return Err(invalid(
                    "the DPoP proof's ath does not match the access token",
                ));
            }
            Some(_) => {}
        }
    }
    let replay_key = sha256_base64url(format!("{}.{jti}", key.thumbprint).as_bytes());
    Ok(VerifiedProof {
        jkt: key.thumbprint,
        replay_key,
        expires_at,
        nonce: claims.nonce,
    })
}
