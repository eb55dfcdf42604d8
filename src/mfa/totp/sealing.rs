//! TOTP secrets sealed at rest: AES-256-GCM under a key derived (HKDF) from the same secret as
//! everything else authd seals, `keys.encryption_key` (in HS256 mode, which has none,
//! `tokens.hs256_secret`). The user id is the associated data, so a sealed secret copied to
//! another user's row does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::TotpSecret;

/// Marks the format of a stored sealed secret (version 1: nonce, ciphertext and tag).
const PREFIX: &str = "v1:";

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// Seals and opens stored TOTP secrets; `Debug` shows nothing.
pub struct TotpSealer {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for TotpSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSealer([redacted])")
    }
}

impl TotpSealer {
    /// Derives the sealing key from `secret` (`KeyManager::page_secret`, itself from the KEK).
    pub fn derive(secret: &hkdf::Prk) -> anyhow::Result<Self> {
        let mut aes = [0u8; 32];
        secret
            .expand(&[b"totp secrets v1"], Len(32))
            .and_then(|okm| okm.fill(&mut aes))
            .map_err(|_| anyhow::anyhow!("deriving the TOTP sealing key failed"))?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, &aes)
            .map_err(|_| anyhow::anyhow!("deriving the TOTP sealing key failed"))?;
        Ok(Self { key })
    }

    /// `secret` sealed for `user_id`, as stored text.
    pub fn seal(&self, secret: &TotpSecret, user_id: &str) -> anyhow::Result<String> {
        let mut in_out = secret.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(user_id.as_bytes()), &mut in_out)
            .map_err(|_| anyhow::anyhow!("sealing a TOTP secret failed"))?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(format!("{PREFIX}{}", STANDARD.encode(sealed)))
    }

    /// The secret `seal` stored for `user_id`.
    pub fn open(&self, sealed: &str, user_id: &str) -> anyhow::Result<TotpSecret> {
        let unreadable = || {
            anyhow::anyhow!(
                "the TOTP secret of user {user_id} cannot be opened: keys.encryption_key is not \
                 the key it was sealed with"
            )
        };
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|body| STANDARD.decode(body).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .ok_or_else(unreadable)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(user_id.as_bytes()), &mut in_out)
            .map_err(|_| unreadable())?;
        TotpSecret::from_bytes(plaintext).ok_or_else(unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(seed: &[u8]) -> TotpSealer {
        TotpSealer::derive(&hkdf::Salt::new(hkdf::HKDF_SHA256, b"t").extract(seed)).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_under_its_key() {
        let secret = TotpSecret::generate();
        let sealed = sealer(b"one").seal(&secret, "user-1").unwrap();
        assert!(!sealed.contains(&secret.to_base32()));
        assert_eq!(sealer(b"one").open(&sealed, "user-1").unwrap(), secret);
        assert!(sealer(b"one").open(&sealed, "user-2").is_err());
        assert!(sealer(b"two").open(&sealed, "user-1").is_err());
        assert!(sealer(b"one").open("v1:!!", "user-1").is_err());
        assert_eq!(format!("{:?}", sealer(b"one")), "TotpSealer([redacted])");
    }
}
