//! The set of keys this instance signs and verifies with, kept in step with the database.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use secrecy::ExposeSecret;

use super::key_encryption::KeyEncryptionKey;
use super::key_material::{SigningKey, generate_key};
use crate::clock::unix_now_ms;
use crate::config::{Settings, SigningAlgorithm};
use crate::store::Store;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not yet signing (resource servers are fetching it).
    Pending,
    /// Signing new tokens.
    Active,
    /// Superseded; still published while tokens it signed may be alive.
    Retired,
    /// Superseded long enough that no token it signed is still valid; safe to prune.
    Expired,
}

impl KeyState {
    /// Lower-case name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
        }
    }
}

/// One line of `authd keys list`.
#[derive(Debug, Clone)]
pub struct KeySummary {
    /// Key id.
    pub kid: String,
    /// Algorithm name.
    pub algorithm: String,
    /// Lifecycle state now.
    pub state: KeyState,
    /// Unix time of publication.
    pub created_at_ms: i64,
    /// Unix time from which it signs.
    pub activates_at_ms: i64,
}

/// An immutable snapshot of the keys, oldest activation first.
#[derive(Debug, Default)]
struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    /// The newest key whose activation time has come.
    fn active(&self, now_ms: i64) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.activates_at_ms <= now_ms)
            .or_else(|| self.keys.first())
    }

    fn state_of(&self, index: usize, now_ms: i64, retention_ms: i64) -> KeyState {
        let key = &self.keys[index];
        if key.activates_at_ms > now_ms {
            return KeyState::Pending;
        }
        // The key that replaced this one, if it has activated.
        let successor = self.keys[index + 1..]
            .iter()
            .find(|k| k.activates_at_ms <= now_ms && k.activates_at_ms >= key.activates_at_ms);
        match successor {
            None => KeyState::Active,
            Some(next) if now_ms >= next.activates_at_ms + retention_ms => KeyState::Expired,
            Some(_) => KeyState::Retired,
        }
    }
}

/// Shares the current keys with every request and reloads them from the database.
pub struct KeyManager {
    store: Store,
    algorithm: SigningAlgorithm,
    activation_delay_ms: i64,
    // A retired key stays published this long after its successor activated.
    retention_ms: i64,
    // HS256: one key from configuration, nothing stored or published.
    static_key: Option<Arc<SigningKey>>,
    // Seals private keys before they are stored; `None` only in HS256 mode.
    kek: Option<KeyEncryptionKey>,
    // Derived key material for the sign-in pages (see `page_secret`).
    page_secret: aws_lc_rs::hkdf::Prk,
    ring: RwLock<Arc<KeyRing>>,
}

impl KeyManager {
    /// The key that signs device cookies: derived from the key-encryption key (none in HS256
    /// mode, which has no KEK; device cookies are then not offered).
    pub fn device_cookie_key(&self) -> Option<aws_lc_rs::hmac::Key> {
        self.kek.as_ref().map(|kek| kek.device_cookie_key().clone())
    }

    /// Key material for the sign-in pages: from the key-encryption key, or in HS256 mode (no
    /// KEK) from the shared HMAC secret, so every instance derives the same keys.
    pub fn page_secret(&self) -> &aws_lc_rs::hkdf::Prk {
        &self.page_secret
    }

    /// Loads the keys, generating the first one when the database has none.
    pub async fn start(store: Store, settings: &Settings) -> anyhow::Result<Self> {
        let static_key = match (&settings.tokens.algorithm, &settings.tokens.hs256_secret) {
            (SigningAlgorithm::HS256, Some(secret)) => Some(Arc::new(
                SigningKey::from_hs256_secret(secret.expose_secret().as_bytes()),
            )),
            _ => None,
        };
        let kek = match static_key {
            Some(_) => None,
            None => Some(KeyEncryptionKey::resolve(settings)?),
        };
        let page_secret = match (&kek, &settings.tokens.hs256_secret) {
            (Some(kek), _) => kek.page_secret().clone(),
            (None, Some(secret)) => {
                aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"authd pages")
                    .extract(secret.expose_secret().as_bytes())
            }
            (None, None) => anyhow::bail!("no key-encryption key and no HS256 secret"),
        };
        let manager = Self {
            kek,
            page_secret,
            store,
            algorithm: settings.tokens.algorithm,
            activation_delay_ms: settings.keys.activation_delay() as i64 * 1000,
            retention_ms: (settings.tokens.access_ttl_secs + settings.tokens.leeway_secs) as i64
                * 1000,
            static_key,
            ring: RwLock::new(Arc::default()),
        };
        manager.reload().await?;
        if manager.static_key.is_none() && manager.snapshot().keys.is_empty() {
            let now = unix_now_ms();
            manager.insert_new_key(now, now).await?;
            log::info!("generated the first {:?} signing key", manager.algorithm);
        }
        Ok(manager)
    }

    /// Re-reads the key table.
    pub async fn reload(&self) -> anyhow::Result<()> {
        if self.static_key.is_some() {
            return Ok(());
        }
        let stored = self.store.list_signing_keys().await?;
        let mut keys = Vec::with_capacity(stored.len());
        for row in &stored {
            // Keep loaded keys as they are: parsing RSA keys is not free.
            let existing = self
                .snapshot()
                .keys
                .iter()
                .find(|k| k.kid == row.kid)
                .cloned();
            match existing {
                Some(key) => keys.push(key),
                None => {
                    let kek = self.kek()?;
                    let mut opened = row.clone();
                    opened.private_key = kek.open(&row.private_key, &row.kid)?;
                    keys.push(Arc::new(SigningKey::from_stored(&opened)?));
                }
            }
        }
        *self.ring.write().expect("key ring lock poisoned") = Arc::new(KeyRing { keys });
        Ok(())
    }

    /// Reloads every `interval` until the process ends, pruning expired keys as it goes.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) {
        let manager = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(manager) = manager.upgrade() else {
                    break;
                };
                if let Err(error) = manager.reload().await {
                    log::warn!("reloading signing keys failed: {error:#}");
                    continue;
                }
                if let Err(error) = manager.prune().await {
                    log::warn!("pruning signing keys failed: {error:#}");
                }
            }
        });
    }

    fn snapshot(&self) -> Arc<KeyRing> {
        self.ring.read().expect("key ring lock poisoned").clone()
    }

    /// The key that signs new tokens now.
    pub fn signing_key(&self) -> Option<Arc<SigningKey>> {
        if let Some(key) = &self.static_key {
            return Some(key.clone());
        }
        self.snapshot().active(unix_now_ms()).cloned()
    }

    /// The key with this `kid`, if it may still verify tokens: stored (not revoked or pruned)
    /// and not expired, even if the reloader has not pruned it yet.
    pub fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        if let Some(key) = self.static_key.as_ref().filter(|k| k.kid == kid) {
            return Some(key.clone());
        }
        let ring = self.snapshot();
        let index = ring.keys.iter().position(|k| k.kid == kid)?;
        match ring.state_of(index, unix_now_ms(), self.retention_ms) {
            KeyState::Expired => None,
            _ => Some(ring.keys[index].clone()),
        }
    }

    /// Public JWKs of every published key (RFC 7517 JWK Set members).
    pub fn public_jwks(&self) -> Vec<jsonwebtoken::jwk::Jwk> {
        self.snapshot()
            .keys
            .iter()
            .filter_map(|k| k.public_jwk.clone())
            .collect()
    }

    /// Every key and its state.
    pub fn summaries(&self) -> Vec<KeySummary> {
        let ring = self.snapshot();
        let now = unix_now_ms();
        (0..ring.keys.len())
            .map(|i| {
                let key = &ring.keys[i];
                KeySummary {
                    kid: key.kid.clone(),
                    algorithm: format!("{:?}", key.algorithm),
                    state: ring.state_of(i, now, self.retention_ms),
                    created_at_ms: key.created_at_ms,
                    activates_at_ms: key.activates_at_ms,
                }
            })
            .collect()
    }

    /// Publishes a new key; it signs after the activation delay, or at once with `now_active`.
    pub async fn rotate(&self, now_active: bool) -> anyhow::Result<KeySummary> {
        if self.static_key.is_some() {
            anyhow::bail!("HS256 keys come from tokens.hs256_secret; change it to rotate");
        }
        let now = unix_now_ms();
        if now_active {
            // A key rotated in "now" supersedes keys still waiting to activate; they never
            // signed anything, so withdrawing them is safe.
            for pending in self
                .summaries()
                .iter()
                .filter(|k| k.state == KeyState::Pending)
            {
                self.store.delete_signing_key(&pending.kid).await?;
            }
        }
        let activates_at_ms = if now_active {
            now
        } else {
            now + self.activation_delay_ms
        };
        let kid = self.insert_new_key(now, activates_at_ms).await?;
        self.summaries()
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| anyhow::anyhow!("rotated key {kid} is not in the table"))
    }

    /// Withdraws a key at once (a leaked key): its row is deleted, so every instance stops
    /// publishing it and verifying with it at its next reload, and it never comes back.
    /// Revoking the active key first activates a new one, as `rotate(true)` does; that key's
    /// summary is returned.
    pub async fn revoke(&self, kid: &str) -> anyhow::Result<Option<KeySummary>> {
        if self.static_key.is_some() {
            anyhow::bail!("HS256 keys come from tokens.hs256_secret; change it to revoke");
        }
        // Decide on the table as it is now, not as this process last saw it.
        self.reload().await?;
        let key = self
            .summaries()
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| anyhow::anyhow!("no signing key {kid}"))?;
        let replacement = match key.state {
            KeyState::Active => Some(self.rotate(true).await?),
            _ => None,
        };
        self.store.delete_signing_key(kid).await?;
        self.reload().await?;
        Ok(replacement)
    }

    /// Deletes keys no live token can need; returns their ids.
    pub async fn prune(&self) -> anyhow::Result<Vec<String>> {
        let expired: Vec<String> = self
            .summaries()
            .into_iter()
            .filter(|k| k.state == KeyState::Expired)
            .map(|k| k.kid)
            .collect();
        for kid in &expired {
            self.store.delete_signing_key(kid).await?;
            log::info!("pruned signing key {kid}");
        }
        if !expired.is_empty() {
            self.reload().await?;
        }
        Ok(expired)
    }

    fn kek(&self) -> anyhow::Result<&KeyEncryptionKey> {
        self.kek
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no key-encryption key in HS256 mode"))
    }

    async fn insert_new_key(&self, now: i64, activates_at_ms: i64) -> anyhow::Result<String> {
        let mut stored = generate_key(self.algorithm, now, activates_at_ms)?;
        stored.private_key = self.kek()?.seal(&stored.private_key, &stored.kid)?;
        self.store.insert_signing_key(&stored).await?;
        self.reload().await?;
        Ok(stored.kid)
    }
}

// merge: replaced by the per-algorithm key ring (branch keys-per-alg).
impl KeyManager {
    /// The active key of `algorithm`.
    pub fn signing_key_for(&self, algorithm: jsonwebtoken::Algorithm) -> Option<Arc<SigningKey>> {
        self.signing_key().filter(|key| key.algorithm == algorithm)
    }

    /// The algorithms id_tokens can be signed with.
    pub fn offered_algorithms(&self) -> Vec<jsonwebtoken::Algorithm> {
        self.signing_key()
            .filter(|key| key.algorithm != jsonwebtoken::Algorithm::HS256)
            .map(|key| vec![key.algorithm])
            .unwrap_or_default()
    }
}
