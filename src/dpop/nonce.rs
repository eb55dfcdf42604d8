//! Server nonces (RFC 9449 section 8) without shared state: an HMAC of the time window under a
//! key derived from the key-encryption key, so every instance issues and accepts the same ones.

use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Bytes of the HMAC kept in a nonce (144 bits: unguessable, and 24 characters).
const NONCE_BYTES: usize = 18;

/// Issues and checks nonces; `Debug` shows nothing.
pub struct NonceKeys {
    key: hmac::Key,
    rotation_secs: i64,
}

impl std::fmt::Debug for NonceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKeys([redacted])")
    }
}

impl NonceKeys {
    /// Derives the nonce key from `secret` (the page secret); a new nonce every
    /// `rotation_secs`.
    pub fn derive(secret: &hkdf::Prk, rotation_secs: u64) -> anyhow::Result<Self> {
        let key = secret
            .expand(&[b"dpop nonces v1"], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .map_err(|_| anyhow::anyhow!("deriving the DPoP nonce key failed"))?;
        Ok(Self {
            key,
            rotation_secs: i64::try_from(rotation_secs.max(1)).unwrap_or(i64::MAX),
        })
    }

    fn window(&self, now: i64) -> i64 {
        now.div_euclid(self.rotation_secs)
    }

    fn nonce_of(&self, window: i64) -> String {
        let tag = hmac::sign(&self.key, &window.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..NONCE_BYTES])
    }

    /// The nonce to hand out at `now`.
    pub fn current(&self, now: i64) -> String {
        self.nonce_of(self.window(now))
    }

    /// Whether `nonce` is the current, the previous, or (for an instance whose clock runs
    /// ahead) the next one.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let window = self.window(now);
        [window - 1, window, window + 1]
            .iter()
            .any(|w| bool::from(self.nonce_of(*w).as_bytes().ct_eq(nonce.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce_keys(seed: &[u8]) -> NonceKeys {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"t").extract(seed);
        NonceKeys::derive(&prk, 60).unwrap()
    }

    #[test]
    fn nonces_rotate_and_the_previous_one_is_still_accepted() {
        let keys = nonce_keys(b"one");
        let first = keys.current(1_000);
        assert_eq!(first, keys.current(1_019));
        assert!(keys.accepts(&first, 1_079));
        assert!(!keys.accepts(&first, 1_200));
        assert_ne!(first, keys.current(1_200));
        assert!(!nonce_keys(b"two").accepts(&first, 1_000));
        assert!(!keys.accepts("", 1_000));
    }
}
