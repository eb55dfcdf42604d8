//! An enrolment waiting for its first code: the new secret travels sealed in the confirmation
//! form (under the page keys, bound to the session), so nothing is stored before the person
//! proves their app works, and a stranger cannot make authd hold state.

use serde::{Deserialize, Serialize};

use super::TotpSecret;
use crate::signin::PageKeys;

/// Distinguishes these ciphertexts from anything else sealed with the page keys.
const PURPOSE: &str = "totp enrolment v1";
/// How long the person has to scan the code and type the first one.
pub const ENROLMENT_TTL_SECS: i64 = 600;

/// A secret shown to the person and not yet confirmed.
#[derive(Serialize, Deserialize)]
pub struct PendingEnrolment {
    user_id: String,
    session_handle: String,
    secret: Vec<u8>,
    expires_at: i64,
}

impl std::fmt::Debug for PendingEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEnrolment")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingEnrolment {
    /// A new secret for `user_id`, enrolling from the session `session_handle`.
    pub fn start(user_id: &str, session_handle: &str, now: i64) -> (Self, TotpSecret) {
        let secret = TotpSecret::generate();
        let pending = Self {
            user_id: user_id.to_owned(),
            session_handle: session_handle.to_owned(),
            secret: secret.as_bytes().to_vec(),
            expires_at: now + ENROLMENT_TTL_SECS,
        };
        (pending, secret)
    }

    /// The form value.
    pub fn seal(&self, keys: &PageKeys) -> Option<String> {
        keys.seal(PURPOSE, &serde_json::to_vec(self).ok()?)
    }

    /// The secret a form value carries, if it is intact, unexpired, and was made for this
    /// user in this session.
    pub fn open(
        keys: &PageKeys,
        sealed: &str,
        user_id: &str,
        session_handle: &str,
        now: i64,
    ) -> Option<TotpSecret> {
        let plaintext = keys.open(PURPOSE, sealed)?;
        let pending: Self = serde_json::from_slice(&plaintext).ok()?;
        let valid = pending.expires_at > now
            && pending.user_id == user_id
            && pending.session_handle == session_handle;
        valid.then(|| TotpSecret::from_bytes(&pending.secret))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::hkdf;

    #[test]
    fn a_pending_secret_opens_only_for_its_user_session_and_time() {
        let keys =
            PageKeys::derive(&hkdf::Salt::new(hkdf::HKDF_SHA256, b"t").extract(b"k")).unwrap();
        let (pending, secret) = PendingEnrolment::start("u1", "s1", 1000);
        let sealed = pending.seal(&keys).unwrap();
        assert_eq!(
            PendingEnrolment::open(&keys, &sealed, "u1", "s1", 1001),
            Some(secret)
        );
        assert!(PendingEnrolment::open(&keys, &sealed, "u2", "s1", 1001).is_none());
        assert!(PendingEnrolment::open(&keys, &sealed, "u1", "s2", 1001).is_none());
        assert!(PendingEnrolment::open(&keys, &sealed, "u1", "s1", 1000 + 600).is_none());
        assert!(format!("{pending:?}").contains("u1"));
    }
}
