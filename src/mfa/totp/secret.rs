//! A TOTP secret: 160 random bits (RFC 4226 section 4 recommends 160), never shown in `Debug`.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::base32;

/// Bytes in a secret.
pub const SECRET_BYTES: usize = 20;

/// The shared secret of one authenticator.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the operating system's random source failed");
        Self(bytes)
    }

    /// A secret from its bytes; `None` unless exactly 20.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw bytes (the HMAC key).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as people type it into an app: base32, 32 characters.
    pub fn to_base32(&self) -> String {
        base32::encode(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_redacted() {
        let (a, b) = (TotpSecret::generate(), TotpSecret::generate());
        assert_ne!(a, b);
        assert_eq!(a.to_base32().len(), 32);
        assert_eq!(format!("{a:?}"), "TotpSecret([redacted])");
        assert!(TotpSecret::from_bytes(&[0; 19]).is_none());
    }
}
