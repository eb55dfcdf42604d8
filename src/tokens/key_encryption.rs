//! Private signing keys are sealed with AES-256-GCM under a key-encryption key (KEK) before
//! they reach the database, so a copy of the database alone does not let anyone sign tokens.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Marks a sealed key (format version 1: magic, nonce, ciphertext and tag).
const SEALED_MAGIC: &[u8] = b"AKE1";

/// The key-encryption key; `Debug` never shows it.
pub struct KeyEncryptionKey {
    sealing: RandomizedNonceKey,
    // Derived from the same secret (HKDF), so that operators manage one key.
    device_cookies: hmac::Key,
    pages: hkdf::Prk,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

impl KeyEncryptionKey {
    /// Parses 32 bytes written in base64 (standard or URL-safe, padding optional).
    pub fn from_base64(encoded: &str) -> anyhow::Result<Self> {
        let trimmed = encoded.trim();
        let bytes = STANDARD
            .decode(trimmed)
            .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed.trim_end_matches('=')))
            .map_err(|_| anyhow::anyhow!("keys.encryption_key: not base64"))?;
        if bytes.len() != 32 {
            anyhow::bail!("keys.encryption_key: must be 32 bytes (base64 of 32 random bytes)");
        }
        let sealing = RandomizedNonceKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| anyhow::anyhow!("keys.encryption_key: unusable key"))?;
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"authd").extract(&bytes);
        let device_cookies = prk
            .expand(&[b"device cookies v1"], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .map_err(|_| anyhow::anyhow!("keys.encryption_key: unusable key"))?;
        Ok(Self {
            sealing,
            device_cookies,
            pages: prk,
        })
    }

    /// The configured KEK; on SQLite without one, a generated key kept in a 0600 file next to
    /// the database. PostgreSQL without one is refused: the database is shared and backed up.
    pub fn resolve(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(encoded) = &settings.keys.encryption_key {
            return Self::from_base64(encoded.expose_secret());
        }
        let Some(path) = kek_file_for(settings.database.url.expose()) else {
            anyhow::bail!(
                "keys.encryption_key is required with PostgreSQL \
                 (generate one with: head -c 32 /dev/urandom | base64)"
            );
        };
        let encoded = read_or_create_kek_file(&path)?;
        log::warn!(
            "keys.encryption_key is not set: using the generated key in {} (keep it with the database, back it up separately)",
            path.display()
        );
        Self::from_base64(&encoded)
    }

    /// Encrypts a private key; `kid` is bound as associated data so sealed keys cannot be swapped.
    pub fn seal(&self, plaintext: &[u8], kid: &str) -> anyhow::Result<Vec<u8>> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .sealing
            .seal_in_place_append_tag(Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| anyhow::anyhow!("sealing signing key {kid} failed"))?;
        let mut sealed = Vec::with_capacity(SEALED_MAGIC.len() + NONCE_LEN + in_out.len());
        sealed.extend_from_slice(SEALED_MAGIC);
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// The key that signs device cookies (see `credentials::device_cookie`).
    pub fn device_cookie_key(&self) -> &hmac::Key {
        &self.device_cookies
    }

    /// Key material for the sign-in pages' sealed cookies and CSRF tokens (expanded further by
    /// `signin::PageKeys`).
    pub fn page_secret(&self) -> &hkdf::Prk {
        &self.pages
    }

    /// Decrypts a sealed private key.
    pub fn open(&self, sealed: &[u8], kid: &str) -> anyhow::Result<Vec<u8>> {
        let body = sealed
            .strip_prefix(SEALED_MAGIC)
            .filter(|body| body.len() > NONCE_LEN)
            .ok_or_else(|| anyhow::anyhow!("signing key {kid} is not sealed"))?;
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow::anyhow!("signing key {kid}: bad nonce"))?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .sealing
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| {
                anyhow::anyhow!(
                    "signing key {kid} cannot be decrypted: keys.encryption_key is not the key it was sealed with"
                )
            })?;
        Ok(plaintext.to_vec())
    }
}

/// `<database file>.kek` for a SQLite URL; `None` for anything else.
fn kek_file_for(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(format!("{path}.kek")))
}

fn read_or_create_kek_file(path: &Path) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("random source failed"))?;
    let encoded = STANDARD.encode(bytes);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(format!("{encoded}\n").as_bytes())?;
            file.sync_all()?;
            Ok(encoded)
        }
        // Another process (or an earlier run) made it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => read_private_file(path),
        Err(error) => Err(anyhow::anyhow!("cannot create {}: {error}", path.display())),
    }
}

/// Reads a key file that only its owner can access; anything more open is refused, since whoever
/// can read it can unseal every signing key (and whoever can write it can choose the key).
fn read_private_file(path: &Path) -> anyhow::Result<String> {
    let mode = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "refusing to start: key file {} is accessible to group or others (mode {mode:04o}); \
             run chmod 600 on it",
            path.display()
        );
    }
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_and_kid() {
        let sealed = kek().seal(b"private key", "kid-1").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(kek().open(&sealed, "kid-1").unwrap(), b"private key");
        assert!(kek().open(&sealed, "kid-2").is_err());
        let other = KeyEncryptionKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open(&sealed, "kid-1").is_err());
    }

    #[test]
    fn malformed_keks_are_refused() {
        assert!(KeyEncryptionKey::from_base64("short").is_err());
        assert!(KeyEncryptionKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert_eq!(format!("{:?}", kek()), "KeyEncryptionKey([redacted])");
    }

    #[test]
    fn the_kek_file_sits_next_to_the_sqlite_database() {
        assert_eq!(
            kek_file_for("sqlite://data/authd.db?mode=rwc"),
            Some(PathBuf::from("data/authd.db.kek"))
        );
        assert_eq!(
            kek_file_for("sqlite:///var/lib/authd/authd.db"),
            Some(PathBuf::from("/var/lib/authd/authd.db.kek"))
        );
        assert_eq!(kek_file_for("postgres://db/authd"), None);
        assert_eq!(kek_file_for("sqlite::memory:"), None);
    }

    #[test]
    fn a_generated_kek_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.db.kek");
        let first = read_or_create_kek_file(&path).unwrap();
        let second = read_or_create_kek_file(&path).unwrap();
        assert_eq!(first, second);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_kek_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.db.kek");
        read_or_create_kek_file(&path).unwrap();
        for mode in [0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = read_or_create_kek_file(&path).unwrap_err().to_string();
            assert!(error.contains("refusing to start"), "{error}");
        }
    }
}
