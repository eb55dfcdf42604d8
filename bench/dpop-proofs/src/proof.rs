//! A DPoP key and the proofs it signs (RFC 9449 section 4.2), as a client builds them.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// A proof key: ES256 (what most DPoP clients use) or EdDSA.
pub enum ProofKey {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// What one proof is for.
pub struct ProofFor<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// The access token it accompanies (`ath`); none at the token endpoint.
    pub token: Option<&'a str>,
    /// A nonce the server asked for (`DPoP-Nonce`).
    pub nonce: Option<&'a str>,
}

impl ProofKey {
    /// A fresh key for `alg` (`ES256` or `EdDSA`).
    pub fn generate(alg: &str) -> Result<Self, String> {
        match alg {
            "ES256" => {
                let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .and_then(|pair| pair.to_pkcs8v1())
                    .map_err(|_| "generating a P-256 key failed")?;
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                    .map(ProofKey::Es256)
                    .map_err(|_| "loading the P-256 key failed".to_owned())
            }
            "EdDSA" => Ed25519KeyPair::generate()
                .map(ProofKey::EdDsa)
                .map_err(|_| "generating an Ed25519 key failed".to_owned()),
            other => Err(format!(
                "unsupported algorithm {other} (use ES256 or EdDSA)"
            )),
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            ProofKey::Es256(_) => "ES256",
            ProofKey::EdDsa(_) => "EdDSA",
        }
    }

    /// The public JWK with only the RFC 7638 required members, in their sorted order.
    fn public_jwk(&self) -> String {
        match self {
            ProofKey::Es256(pair) => {
                // Uncompressed SEC1 point: 0x04 || x || y.
                let (x, y) = pair.public_key().as_ref()[1..].split_at(32);
                format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                    URL_SAFE_NO_PAD.encode(x),
                    URL_SAFE_NO_PAD.encode(y)
                )
            }
            ProofKey::EdDsa(pair) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())
            ),
        }
    }

    /// The RFC 7638 thumbprint, as `cnf.jkt` names the key.
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(digest::digest(
            &digest::SHA256,
            self.public_jwk().as_bytes(),
        ))
    }

    /// A proof with a fresh random `jti` and `iat` now.
    pub fn proof(&self, what: &ProofFor<'_>, rng: &SystemRandom) -> Result<String, String> {
        let mut jti = [0u8; 16];
        rng.fill(&mut jti).map_err(|_| "no randomness")?;
        let header = format!(
            r#"{{"typ":"dpop+jwt","alg":"{}","jwk":{}}}"#,
            self.alg(),
            self.public_jwk()
        );
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": what.method,
            "htu": what.url,
            "iat": unix_now(),
        });
        if let Some(token) = what.token {
            claims["ath"] = Value::from(
                URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes())),
            );
        }
        if let Some(nonce) = what.nonce {
            claims["nonce"] = Value::from(nonce);
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            ProofKey::Es256(pair) => pair
                .sign(rng, input.as_bytes())
                .map_err(|_| "signing failed")?
                .as_ref()
                .to_vec(),
            ProofKey::EdDsa(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(jws: &str, index: usize) -> Value {
        let segment = jws.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_names_the_request_the_token_and_a_unique_jti() {
        let rng = SystemRandom::new();
        for alg in ["ES256", "EdDSA"] {
            let key = ProofKey::generate(alg).unwrap();
            let what = ProofFor {
                method: "GET",
                url: "http://127.0.0.1:18080/me",
                token: Some("abc"),
                nonce: None,
            };
            let (first, second) = (
                key.proof(&what, &rng).unwrap(),
                key.proof(&what, &rng).unwrap(),
            );
            let header = part(&first, 0);
            assert_eq!(header["typ"], "dpop+jwt");
            assert_eq!(header["alg"], alg);
            assert!(header["jwk"].get("d").is_none());
            let claims = part(&first, 1);
            assert_eq!(claims["htm"], "GET");
            assert_eq!(claims["htu"], "http://127.0.0.1:18080/me");
            // SHA-256("abc"), base64url.
            assert_eq!(claims["ath"], "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
            assert_ne!(claims["jti"], part(&second, 1)["jti"]);
            assert_eq!(key.thumbprint().len(), 43);
        }
    }

    #[test]
    fn the_es256_signature_verifies_with_the_published_key() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
        let rng = SystemRandom::new();
        let key = ProofKey::generate("ES256").unwrap();
        let what = ProofFor {
            method: "POST",
            url: "http://authd/token",
            token: None,
            nonce: Some("n1"),
        };
        let proof = key.proof(&what, &rng).unwrap();
        assert_eq!(part(&proof, 1)["nonce"], "n1");
        assert!(part(&proof, 1).get("ath").is_none());
        let jwk = &part(&proof, 0)["jwk"];
        let mut point = vec![4u8];
        for member in ["x", "y"] {
            point.extend(
                URL_SAFE_NO_PAD
                    .decode(jwk[member].as_str().unwrap())
                    .unwrap(),
            );
        }
        let (input, signature) = proof.rsplit_once('.').unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
    }
}
