//! Generated secrets (client secrets, refresh tokens) and their fast hashes.
//!
//! These carry 256 bits of entropy, so SHA-256 is enough to make a stolen table useless, and it
//! keeps client authentication cheap for introspection callers (no argon2 per request).

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// A fresh 256-bit random value in URL-safe base64 without padding (passes Basic auth unchanged).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a secret, hex-encoded, as stored.
pub fn hash_secret(secret: &str) -> String {
    crate::hex::lower(digest(&SHA256, secret.as_bytes()).as_ref())
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn secret_hash_matches(secret: &str, stored: &str) -> bool {
    hash_secret(secret)
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_distinct_and_url_safe() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn hash_matches_only_its_secret() {
        let secret = generate_secret();
        let stored = hash_secret(&secret);
        assert!(secret_hash_matches(&secret, &stored));
        assert!(!secret_hash_matches("other", &stored));
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
