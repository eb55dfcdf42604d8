//! Keys of the sign-in pages, derived (HKDF, aws-lc-rs) from the key-encryption key so every
//! instance sharing it can open what another sealed: AES-256-GCM for the login transaction
//! cookie, HMAC-SHA256 for CSRF tokens bound to a session.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Largest sealed value accepted (a login transaction is well under 4 KiB, a cookie's limit).
const MAX_SEALED_BYTES: usize = 4096;
/// Largest sealed value put in a cookie: browsers keep 4096 bytes for name, value and
/// attributes together.
pub const MAX_COOKIE_VALUE_BYTES: usize = 3800;

/// Seals and opens page state; `Debug` shows nothing.
pub struct PageKeys {
    sealing: RandomizedNonceKey,
    csrf: hmac::Key,
}

impl std::fmt::Debug for PageKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageKeys([redacted])")
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl PageKeys {
    /// Derives the page keys from `secret`.
    pub fn derive(secret: &hkdf::Prk) -> anyhow::Result<Self> {
        let mut aes = [0u8; 32];
        secret
            .expand(&[b"login transactions v1"], Len(32))
            .and_then(|okm| okm.fill(&mut aes))
            .map_err(|_| anyhow::anyhow!("deriving the page keys failed"))?;
        let sealing = RandomizedNonceKey::new(&AES_256_GCM, &aes)
            .map_err(|_| anyhow::anyhow!("deriving the page keys failed"))?;
        let csrf = secret
            .expand(&[b"csrf v1"], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .map_err(|_| anyhow::anyhow!("deriving the page keys failed"))?;
        Ok(Self { sealing, csrf })
    }

    /// Encrypts and authenticates `plaintext` for `purpose`, as URL-safe base64.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Option<String> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .sealing
            .seal_in_place_append_tag(Aad::from(purpose.as_bytes()), &mut in_out)
            .ok()?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        Some(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The plaintext of a value `seal` made for the same `purpose`; `None` when it was altered,
    /// made for something else or under another key.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        if sealed.len() > MAX_SEALED_BYTES {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .sealing
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut in_out)
            .ok()?;
        Some(plaintext.to_vec())
    }

    /// A CSRF token bound to `binding` (a session handle): the same for every form of it.
    pub fn csrf_token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.csrf, binding.as_bytes()).as_ref())
    }

    /// Whether `token` is the CSRF token of `binding` (constant time).
    pub fn csrf_matches(&self, binding: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token)
            .is_ok_and(|tag| hmac::verify(&self.csrf, binding.as_bytes(), &tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(seed: &[u8]) -> PageKeys {
        PageKeys::derive(&hkdf::Salt::new(hkdf::HKDF_SHA256, b"t").extract(seed)).unwrap()
    }

    #[test]
    fn sealed_values_open_only_for_their_purpose_and_key() {
        let a = keys(b"one");
        let sealed = a.seal("login", b"hello").unwrap();
        assert_eq!(a.open("login", &sealed).unwrap(), b"hello");
        assert_eq!(a.open("consent", &sealed), None);
        assert_eq!(keys(b"two").open("login", &sealed), None);
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            a.open("login", std::str::from_utf8(&tampered).unwrap()),
            None
        );
        assert_eq!(a.open("login", "!!"), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let keys = keys(b"one");
        let token = keys.csrf_token("session-a");
        assert!(keys.csrf_matches("session-a", &token));
        assert!(!keys.csrf_matches("session-b", &token));
        assert!(!keys.csrf_matches("session-a", "AAAA"));
    }
}
