//! A ceremony's state between its two requests: sealed (AES-GCM under the page keys) into the
//! JSON the page echoes back, so that starting a ceremony stores nothing on the server. The seal
//! binds it to the browser that began it and to an expiry; the challenge's hash, written on
//! success, makes it single-use.

use aws_lc_rs::digest::{SHA256, digest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::signin::PageKeys;

/// Distinguishes a registration's sealed state from anything else sealed with the page keys.
pub const REGISTRATION: &str = "passkey registration v1";
/// Distinguishes a sign-in's sealed state.
pub const SIGN_IN: &str = "passkey sign-in v1";

/// The state of one ceremony, with what it is bound to.
#[derive(Serialize, Deserialize)]
pub struct Ceremony<S> {
    /// The WebAuthn library's state.
    pub state: S,
    /// What the finishing request must present: a session handle (registration) or a login
    /// transaction's CSRF token (sign-in).
    pub binding: String,
    /// SHA-256 (hex) of the challenge, the ceremony's single-use key.
    pub challenge_hash: String,
    /// Unix time after which it is refused.
    pub expires_at: i64,
}

impl<S: Serialize + DeserializeOwned> Ceremony<S> {
    /// A ceremony for `challenge`, bound to `binding`, for `ttl_secs`.
    pub fn new(state: S, binding: &str, challenge: &[u8], now: i64, ttl_secs: u64) -> Self {
        Self {
            state,
            binding: binding.to_owned(),
            challenge_hash: challenge_hash(challenge),
            expires_at: now + i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
        }
    }

    /// The sealed value for `purpose`.
    pub fn seal(&self, keys: &PageKeys, purpose: &str) -> Option<String> {
        keys.seal(purpose, &serde_json::to_vec(self).ok()?)
    }

    /// The ceremony in `sealed`, unless it was altered, made for another purpose, has expired or
    /// is bound to something else than `binding`.
    pub fn open(
        keys: &PageKeys,
        purpose: &str,
        sealed: &str,
        binding: &str,
        now: i64,
    ) -> Option<Self> {
        use subtle::ConstantTimeEq;
        let ceremony: Self = serde_json::from_slice(&keys.open(purpose, sealed)?).ok()?;
        let bound: bool = ceremony.binding.as_bytes().ct_eq(binding.as_bytes()).into();
        (bound && ceremony.expires_at > now).then_some(ceremony)
    }
}

/// SHA-256 of a challenge, hex.
fn challenge_hash(challenge: &[u8]) -> String {
    crate::hex::lower(digest(&SHA256, challenge).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::hkdf;

    #[test]
    fn a_ceremony_opens_only_for_its_binding_purpose_and_time() {
        let keys =
            PageKeys::derive(&hkdf::Salt::new(hkdf::HKDF_SHA256, b"t").extract(b"k")).unwrap();
        let sealed = Ceremony::new(7u8, "session-a", b"challenge", 100, 60)
            .seal(&keys, SIGN_IN)
            .unwrap();
        let opened = Ceremony::<u8>::open(&keys, SIGN_IN, &sealed, "session-a", 159).unwrap();
        assert_eq!(opened.state, 7);
        assert_eq!(opened.challenge_hash, challenge_hash(b"challenge"));
        assert!(Ceremony::<u8>::open(&keys, SIGN_IN, &sealed, "session-b", 100).is_none());
        assert!(Ceremony::<u8>::open(&keys, REGISTRATION, &sealed, "session-a", 100).is_none());
        assert!(Ceremony::<u8>::open(&keys, SIGN_IN, &sealed, "session-a", 160).is_none());
    }
}
