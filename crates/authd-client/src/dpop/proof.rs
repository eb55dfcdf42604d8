//! One DPoP proof (RFC 9449 section 4.3): its header, its signature and its claims.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

/// The proof algorithms accepted, as the `algs` of a `DPoP` challenge (RFC 9449 section 7.1).
pub const ALGORITHMS: &str = "ES256 EdDSA RS256";

/// Longest proof parsed; an RSA 4096 key with its header stays well below.
const MAX_PROOF_BYTES: usize = 8 * 1024;
/// Longest `jti` accepted (RFC 9449 asks for 96 bits of randomness; 256 bytes is generous).
const MAX_JTI_BYTES: usize = 256;
/// JWK members that only a private or symmetric key has (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Deserialize)]
struct ProofHeader {
    #[serde(default)]
    typ: Option<String>,
    alg: String,
    #[serde(default)]
    jwk: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
}

/// What a proof must match to accompany this request.
pub struct Expected<'a> {
    /// The request method (`htm`).
    pub method: &'a str,
    /// This service's URL of the request, without query and fragment (`htu`).
    pub url: &'a Url,
    /// The access token presented with it (`ath`).
    pub token: &'a str,
    /// The thumbprint the token is bound to (`cnf.jkt`).
    pub jkt: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// How old an `iat` may be, seconds.
    pub max_age: i64,
    /// Clock skew allowed either way, seconds.
    pub leeway: i64,
}

/// A proof that passed every check but the replay check.
#[derive(Debug)]
pub struct Accepted {
    /// Its `jti`.
    pub jti: String,
    /// The last second (Unix) at which its `iat` still passes: how long to remember the `jti`.
    pub usable_until: i64,
}

/// Checks `proof` against the request (RFC 9449 section 4.3, steps 1 to 11 except replay);
/// verifies one signature at most. The error is the `error_description`.
pub fn check(proof: &str, expected: &Expected<'_>) -> Result<Accepted, &'static str> {
    if proof.len() > MAX_PROOF_BYTES || proof.split('.').count() != 3 {
        return Err("the DPoP proof is not a compact JWS");
    }
    let header = read_header(proof)?;
    // Step 4: the header's typ.
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err("the DPoP proof is not typed dpop+jwt");
    }
    let algorithm = match header.alg.as_str() {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        "RS256" => Algorithm::RS256,
        _ => return Err("the DPoP proof uses an unsupported algorithm"),
    };
    let jwk = header.jwk.ok_or("the DPoP proof has no jwk")?;
    // Step 7: a public key only.
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| jwk.contains_key(*member))
    {
        return Err("the DPoP proof's jwk holds a private key");
    }
    if !key_fits(&jwk, algorithm) {
        return Err("the DPoP proof's jwk does not fit its algorithm");
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(jwk))
        .map_err(|_| "the DPoP proof's jwk is invalid")?;
    // RFC 9449 section 7.1: the proof's key must be the one the token is bound to. Checked
    // before the signature, so that a stranger's key costs a hash, not a verification.
    let thumbprint = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| "the DPoP proof's jwk is invalid")?;
    if thumbprint != expected.jkt {
        return Err("the DPoP proof is signed by another key than the token is bound to");
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "the DPoP proof's jwk is invalid")?;
    let claims = verify_signature(proof, &key, algorithm)?;
    check_claims(&claims, expected)?;
    Ok(Accepted {
        usable_until: claims
            .iat
            .saturating_add(expected.max_age + expected.leeway),
        jti: claims.jti,
    })
}

/// The base64url SHA-256 of an access token, as `ath` carries it.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

fn read_header(proof: &str) -> Result<ProofHeader, &'static str> {
    let encoded = proof.split('.').next().unwrap_or_default();
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| "the DPoP proof's header is not base64url")?;
    serde_json::from_slice(&json).map_err(|_| "the DPoP proof's header is invalid")
}

/// Whether the JWK's key type (and curve) is the one `algorithm` signs with.
fn key_fits(jwk: &Map<String, Value>, algorithm: Algorithm) -> bool {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    match algorithm {
        Algorithm::ES256 => member("kty") == Some("EC") && member("crv") == Some("P-256"),
        Algorithm::EdDSA => member("kty") == Some("OKP") && member("crv") == Some("Ed25519"),
        Algorithm::RS256 => member("kty") == Some("RSA"),
        _ => false,
    }
}

/// Step 6: the signature, with the algorithm pinned to the one checked against the key.
fn verify_signature(
    proof: &str,
    key: &DecodingKey,
    algorithm: Algorithm,
) -> Result<ProofClaims, &'static str> {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<ProofClaims>(proof, key, &validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                "the DPoP proof's signature is invalid"
            }
            jsonwebtoken::errors::ErrorKind::Json(_) => "the DPoP proof lacks a required claim",
            _ => "the DPoP proof is invalid",
        })
}

/// Steps 8 to 11: `htm`, `htu`, `iat`, `ath`, and a usable `jti`.
fn check_claims(claims: &ProofClaims, expected: &Expected<'_>) -> Result<(), &'static str> {
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_BYTES {
        return Err("the DPoP proof's jti is missing or too long");
    }
    if claims.htm != expected.method {
        return Err("the DPoP proof is for another HTTP method");
    }
    if !same_url(&claims.htu, expected.url) {
        return Err("the DPoP proof is for another URL");
    }
    let oldest = expected.now - expected.max_age - expected.leeway;
    if claims.iat < oldest || claims.iat > expected.now + expected.leeway {
        return Err("the DPoP proof is too old or from the future");
    }
    if claims.ath.as_deref() != Some(token_hash(expected.token).as_str()) {
        return Err("the DPoP proof's ath does not match the access token");
    }
    Ok(())
}

/// Step 9: `htu` equals the request URL, ignoring query and fragment, after the syntax-based
/// normalisation of RFC 3986 section 6.2.2 (case of scheme and host, default port, dot segments).
fn same_url(htu: &str, expected: &Url) -> bool {
    let Ok(mut htu) = Url::parse(htu) else {
        return false;
    };
    htu.set_query(None);
    htu.set_fragment(None);
    htu == *expected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_hash_is_base64url_sha256() {
        // RFC 9449 section 7.1's example token and its ath.
        assert_eq!(
            token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn htu_ignores_query_fragment_and_letter_case_of_the_host() {
        let expected = Url::parse("https://items.example.com/items").unwrap();
        assert!(same_url("https://items.example.com/items", &expected));
        assert!(same_url(
            "HTTPS://Items.Example.COM:443/items?x=1#f",
            &expected
        ));
        assert!(!same_url("https://items.example.com/items/", &expected));
        assert!(!same_url("http://items.example.com/items", &expected));
        assert!(!same_url("https://evil.example.com/items", &expected));
        assert!(!same_url("/items", &expected));
    }

    #[test]
    fn the_key_type_must_fit_the_algorithm() {
        let jwk = |value: Value| value.as_object().unwrap().clone();
        let ec = jwk(serde_json::json!({"kty": "EC", "crv": "P-256"}));
        let okp = jwk(serde_json::json!({"kty": "OKP", "crv": "Ed25519"}));
        let rsa = jwk(serde_json::json!({"kty": "RSA"}));
        assert!(key_fits(&ec, Algorithm::ES256));
        assert!(!key_fits(&ec, Algorithm::EdDSA));
        assert!(key_fits(&okp, Algorithm::EdDSA));
        assert!(!key_fits(&rsa, Algorithm::ES256));
        assert!(key_fits(&rsa, Algorithm::RS256));
        assert!(!key_fits(
            &jwk(serde_json::json!({"kty": "EC", "crv": "P-384"})),
            Algorithm::ES256
        ));
    }

    #[test]
    fn malformed_proofs_are_refused_before_any_key_is_built() {
        let url = Url::parse("https://items.example.com/items").unwrap();
        let expected = Expected {
            method: "GET",
            url: &url,
            token: "t",
            jkt: "x",
            now: 0,
            max_age: 60,
            leeway: 5,
        };
        for proof in ["", "a.b", "a.b.c.d", "!!.b.c", "e30.e30.e30"] {
            assert!(check(proof, &expected).is_err(), "{proof}");
        }
        let none = format!(
            "{}.e30.",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"dpop+jwt","alg":"none"}"#)
        );
        assert_eq!(
            check(&none, &expected).unwrap_err(),
            "the DPoP proof uses an unsupported algorithm"
        );
    }
}
