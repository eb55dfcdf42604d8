//! The set of keys this instance signs and verifies with, kept in step with the database: one
//! lineage of keys per offered algorithm, each rotated, retired and pruned on its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use secrecy::ExposeSecret;

use super::key_encryption::KeyEncryptionKey;
use super::key_material::{SigningKey, generate_key};
use crate::clock::unix_now_ms;
use crate::config::{Settings, SigningAlgorithm};
use crate::snapshot::Snapshot;
use crate::store::{Store, StoredKey};

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
    /// The algorithm of the key's lineage.
    pub algorithm: Algorithm,
    /// Lifecycle state now.
    pub state: KeyState,
    /// Unix time of publication.
    pub created_at_ms: i64,
    /// Unix time from which it signs.
    pub activates_at_ms: i64,
}

/// The algorithms that each keep a key lineage, in the order metadata lists them. RS256 comes
/// first: OpenID Connect Discovery requires it for id_tokens, and many relying parties accept
/// nothing else.
const OFFERED_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// How long a retired key stays published: until no access token or id_token it signed is alive.
fn retention_for(settings: &Settings) -> Duration {
    let longest = settings
        .tokens
        .access_ttl_secs
        .max(settings.tokens.id_token_ttl_secs);
    Duration::from_secs(longest.saturating_add(settings.tokens.leeway_secs))
}

/// The JWS algorithm of a configured access-token algorithm.
fn jws_algorithm(algorithm: SigningAlgorithm) -> Algorithm {
    match algorithm {
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
        SigningAlgorithm::ES256 => Algorithm::ES256,
        SigningAlgorithm::RS256 => Algorithm::RS256,
        SigningAlgorithm::HS256 => Algorithm::HS256,
    }
}

/// An immutable snapshot of the keys of every algorithm, oldest activation first.
#[derive(Debug, Default)]
struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    /// The newest key of `algorithm` whose activation time has come.
    fn active(&self, algorithm: Algorithm, now_ms: i64) -> Option<&Arc<SigningKey>> {
        let mut lineage = self.keys.iter().filter(|k| k.algorithm == algorithm);
        lineage
            .clone()
            .rev()
            .find(|k| k.activates_at_ms <= now_ms)
            // Only keys from the future (another instance's clock runs ahead): still sign.
            .or_else(|| lineage.next())
    }

    /// Whether `algorithm` has any key at all.
    fn has(&self, algorithm: Algorithm) -> bool {
        self.keys.iter().any(|k| k.algorithm == algorithm)
    }

    /// The state of key `index`, among the keys of its own algorithm only.
    fn state_of(&self, index: usize, now_ms: i64, retention_ms: i64) -> KeyState {
        let key = &self.keys[index];
        if key.activates_at_ms > now_ms {
            return KeyState::Pending;
        }
        // The key that replaced this one, if it has activated.
        let successor = self.keys[index + 1..].iter().find(|k| {
            k.algorithm == key.algorithm
                && k.activates_at_ms <= now_ms
                && k.activates_at_ms >= key.activates_at_ms
        });
        match successor {
            None => KeyState::Active,
            Some(next) if now_ms >= next.activates_at_ms + retention_ms => KeyState::Expired,
            Some(_) => KeyState::Retired,
        }
    }

    fn summaries(&self, now_ms: i64, retention_ms: i64) -> Vec<KeySummary> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, key)| KeySummary {
                kid: key.kid.clone(),
                algorithm: key.algorithm,
                state: self.state_of(i, now_ms, retention_ms),
                created_at_ms: key.created_at_ms,
                activates_at_ms: key.activates_at_ms,
            })
            .collect()
    }
}

/// Shares the current keys with every request and reloads them from the database.
pub struct KeyManager {
    store: Store,
    // Signs access tokens (`tokens.algorithm`); HS256 means the static key below.
    access_algorithm: Algorithm,
    // Each has a stored key lineage; empty in HS256 mode.
    offered: Vec<Algorithm>,
    activation_delay_ms: i64,
    // A retired key stays published this long after its successor activated.
    retention_ms: i64,
    // HS256: one key from configuration, nothing stored or published.
    static_key: Option<Arc<SigningKey>>,
    // Seals private keys before they are stored; `None` only in HS256 mode.
    kek: Option<KeyEncryptionKey>,
    // Derived key material for the sign-in pages (see `page_secret`).
    page_secret: aws_lc_rs::hkdf::Prk,
    // Read for every token signed and verified.
    ring: Snapshot<KeyRing>,
    // When a token's unknown `kid` last made this instance re-read the key table.
    last_miss_reload: tokio::sync::Mutex<Option<Instant>>,
}

/// How often an unknown `kid` may make an instance re-read the key table.
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

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

    /// Loads the keys, generating the first key of every offered algorithm that has none (on
    /// first start, and on upgrade from a release that kept one algorithm).
    pub async fn start(store: Store, settings: &Settings) -> anyhow::Result<Self> {
        Self::start_with_retention(store, settings, retention_for(settings)).await
    }

    /// Like `start`, keeping a retired key published for `retention` after its successor
    /// activated (normally the longest token lifetime plus leeway).
    pub async fn start_with_retention(
        store: Store,
        settings: &Settings,
        retention: Duration,
    ) -> anyhow::Result<Self> {
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
        let offered = match static_key {
            Some(_) => Vec::new(),
            None => OFFERED_ALGORITHMS.to_vec(),
        };
        let manager = Self {
            kek,
            page_secret,
            store,
            access_algorithm: jws_algorithm(settings.tokens.algorithm),
            offered,
            activation_delay_ms: settings.keys.activation_delay() as i64 * 1000,
            retention_ms: i64::try_from(retention.as_millis()).unwrap_or(i64::MAX),
            static_key,
            ring: Snapshot::new(Arc::default()),
            last_miss_reload: tokio::sync::Mutex::new(None),
        };
        manager.reload().await?;
        manager.generate_missing_keys().await?;
        Ok(manager)
    }

    /// Gives every offered algorithm without a key its first key, signing at once.
    async fn generate_missing_keys(&self) -> anyhow::Result<()> {
        let ring = self.snapshot();
        let missing: Vec<Algorithm> = self
            .offered
            .iter()
            .copied()
            .filter(|alg| !ring.has(*alg))
            .collect();
        if !missing.is_empty() {
            let now = unix_now_ms();
            // Generate every key before storing any, so that other instances starting now see
            // the new lineages appear together rather than one RSA generation apart.
            let keys = self.generate_sealed(&missing, now, now).await?;
            for key in &keys {
                self.store.insert_signing_key(key).await?;
            }
            self.reload().await?;
            for alg in &missing {
                log::info!("generated the first {alg:?} signing key");
            }
        }
        // Instances starting together may each add a first key; any of them signs, and every
        // one is published. What must never happen is an offered algorithm without a key.
        for alg in &self.offered {
            if self.signing_key_for(*alg).is_none() {
                anyhow::bail!("no {alg:?} signing key after start");
            }
        }
        Ok(())
    }

    /// Re-reads the key table.
    pub async fn reload(&self) -> anyhow::Result<()> {
        if self.static_key.is_some() {
            return Ok(());
        }
        let stored = self.store.list_signing_keys().await?;
        let current = self.snapshot();
        let mut keys = Vec::with_capacity(stored.len());
        for row in &stored {
            // Keep loaded keys as they are: parsing RSA keys is not free.
            match current.keys.iter().find(|k| k.kid == row.kid) {
                Some(key) => keys.push(key.clone()),
                None => {
                    let kek = self.kek()?;
                    let mut opened = row.clone();
                    opened.private_key = kek.open(&row.private_key, &row.kid)?;
                    keys.push(Arc::new(SigningKey::from_stored(&opened)?));
                }
            }
        }
        self.ring.replace(Arc::new(KeyRing { keys }));
        Ok(())
    }

    /// Re-reads the key table because a token names a `kid` this instance does not hold: another
    /// instance may have just started signing with a key activated at once. At most once per
    /// `MISS_RELOAD_INTERVAL` whatever strangers send; concurrent misses wait for one read.
    /// Whether the table was read.
    pub async fn reload_after_miss(&self) -> bool {
        if self.static_key.is_some() {
            return false;
        }
        let mut last = self.last_miss_reload.lock().await;
        if last.is_some_and(|at| at.elapsed() < MISS_RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        match self.reload().await {
            Ok(()) => true,
            Err(error) => {
                log::warn!("reloading signing keys for an unknown kid failed: {error:#}");
                false
            }
        }
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
        self.ring.load()
    }

    /// The key that signs new access tokens now: the active key of `tokens.algorithm`.
    pub fn signing_key(&self) -> Option<Arc<SigningKey>> {
        self.with_signing_key(|key| key.cloned())
    }

    /// Calls `sign` with the key `signing_key` returns, without sharing it: for every token.
    pub fn with_signing_key<R>(&self, sign: impl FnOnce(Option<&Arc<SigningKey>>) -> R) -> R {
        if let Some(key) = &self.static_key {
            return sign(Some(key));
        }
        self.ring
            .with(|ring| sign(ring.active(self.access_algorithm, unix_now_ms())))
    }

    /// The active key of `algorithm`; `None` when the algorithm is not offered.
    pub fn signing_key_for(&self, algorithm: Algorithm) -> Option<Arc<SigningKey>> {
        if !self.offered.contains(&algorithm) {
            return None;
        }
        self.snapshot().active(algorithm, unix_now_ms()).cloned()
    }

    /// The algorithms with a published key lineage, RS256 first (for
    /// `id_token_signing_alg_values_supported`); empty in HS256 mode.
    pub fn offered_algorithms(&self) -> Vec<Algorithm> {
        self.offered.clone()
    }

    /// The offered algorithm called `name` (case-insensitive), or an error naming those offered.
    pub fn offered_algorithm(&self, name: &str) -> anyhow::Result<Algorithm> {
        if self.offered.is_empty() {
            anyhow::bail!(
                "no key algorithms are offered: with tokens.algorithm = \"HS256\" the only key \
                 is tokens.hs256_secret"
            );
        }
        self.offered
            .iter()
            .copied()
            .find(|alg| format!("{alg:?}").eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                let offered: Vec<String> = self.offered.iter().map(|a| format!("{a:?}")).collect();
                anyhow::anyhow!(
                    "unknown key algorithm {name:?}: offered are {}",
                    offered.join(", ")
                )
            })
    }

    /// The key with this `kid`, of any algorithm, if it may still verify tokens: stored (not
    /// revoked or pruned) and not expired, even if the reloader has not pruned it yet.
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

    /// Public JWKs of every published key of every algorithm (RFC 7517 JWK Set members).
    pub fn public_jwks(&self) -> Vec<jsonwebtoken::jwk::Jwk> {
        self.snapshot()
            .keys
            .iter()
            .filter_map(|k| k.public_jwk.clone())
            .collect()
    }

    /// Every key and its state.
    pub fn summaries(&self) -> Vec<KeySummary> {
        self.snapshot().summaries(unix_now_ms(), self.retention_ms)
    }

    /// Publishes a new key for `only` that algorithm, or for every offered one; each signs after
    /// the activation delay, or at once with `now_active`. Returns the new keys.
    pub async fn rotate(
        &self,
        only: Option<Algorithm>,
        now_active: bool,
    ) -> anyhow::Result<Vec<KeySummary>> {
        if self.static_key.is_some() {
            anyhow::bail!("HS256 keys come from tokens.hs256_secret; change it to rotate");
        }
        let algorithms = match only {
            Some(alg) if self.offered.contains(&alg) => vec![alg],
            Some(alg) => anyhow::bail!("{alg:?} keys are not offered"),
            None => self.offered.clone(),
        };
        // Decide on the table as it is now, not as this process last saw it.
        self.reload().await?;
        self.rotate_algorithms(&algorithms, now_active).await
    }

    async fn rotate_algorithms(
        &self,
        algorithms: &[Algorithm],
        now_active: bool,
    ) -> anyhow::Result<Vec<KeySummary>> {
        let now = unix_now_ms();
        let activates_at_ms = if now_active {
            now
        } else {
            now + self.activation_delay_ms
        };
        let keys = self
            .generate_sealed(algorithms, now, activates_at_ms)
            .await?;
        let before = self.summaries();
        for (alg, key) in algorithms.iter().zip(&keys) {
            if now_active {
                // A key rotated in "now" supersedes keys of its algorithm still waiting to
                // activate; they never signed anything, so withdrawing them is safe.
                for pending in before
                    .iter()
                    .filter(|k| k.state == KeyState::Pending && k.algorithm == *alg)
                {
                    self.store.delete_signing_key(&pending.kid).await?;
                }
            }
            self.store.insert_signing_key(key).await?;
        }
        self.reload().await?;
        let after = self.summaries();
        keys.iter()
            .map(|key| {
                after
                    .iter()
                    .find(|k| k.kid == key.kid)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("rotated key {} is not in the table", key.kid))
            })
            .collect()
    }

    /// Withdraws a key at once (a leaked key): its row is deleted, so every instance stops
    /// publishing it and verifying with it at its next reload, and it never comes back.
    /// Revoking the active key of an algorithm first activates a new key of that algorithm, as
    /// `rotate(Some(alg), true)` does; that key's summary is returned.
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
            KeyState::Active => self.rotate_algorithms(&[key.algorithm], true).await?.pop(),
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

    /// New keys of `algorithms`, sealed and ready to store.
    async fn generate_sealed(
        &self,
        algorithms: &[Algorithm],
        now: i64,
        activates_at_ms: i64,
    ) -> anyhow::Result<Vec<StoredKey>> {
        let algorithms = algorithms.to_vec();
        // RSA key generation takes a while: keep it off the async workers.
        let mut keys = tokio::task::spawn_blocking(move || {
            algorithms
                .into_iter()
                .map(|alg| generate_key(alg, now, activates_at_ms))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await??;
        let kek = self.kek()?;
        for key in &mut keys {
            key.private_key = kek.seal(&key.private_key, &key.kid)?;
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(algorithm: Algorithm, activates_at_ms: i64) -> Arc<SigningKey> {
        let stored = generate_key(algorithm, activates_at_ms, activates_at_ms).unwrap();
        Arc::new(SigningKey::from_stored(&stored).unwrap())
    }

    fn states(ring: &KeyRing, now_ms: i64, retention_ms: i64) -> Vec<KeyState> {
        ring.summaries(now_ms, retention_ms)
            .into_iter()
            .map(|k| k.state)
            .collect()
    }

    #[test]
    fn a_new_key_retires_only_keys_of_its_own_algorithm() {
        let (ed1, es1, ed2) = (
            key(Algorithm::EdDSA, 0),
            key(Algorithm::ES256, 100),
            key(Algorithm::EdDSA, 200),
        );
        let ring = KeyRing {
            keys: vec![ed1.clone(), es1.clone(), ed2.clone()],
        };

        use KeyState::*;
        assert_eq!(states(&ring, 150, 1_000), [Active, Active, Pending]);
        assert_eq!(states(&ring, 300, 1_000), [Retired, Active, Active]);
        assert_eq!(states(&ring, 1_200, 1_000), [Expired, Active, Active]);
        assert_eq!(ring.active(Algorithm::EdDSA, 300).unwrap().kid, ed2.kid);
        assert_eq!(ring.active(Algorithm::ES256, 300).unwrap().kid, es1.kid);
        assert!(ring.active(Algorithm::RS256, 300).is_none());
    }

    #[test]
    fn a_lineage_whose_keys_all_lie_in_the_future_signs_with_its_oldest() {
        // Another instance, its clock ahead of ours, generated the first keys.
        let (ed, es1, es2) = (
            key(Algorithm::EdDSA, 0),
            key(Algorithm::ES256, 500),
            key(Algorithm::ES256, 600),
        );
        let ring = KeyRing {
            keys: vec![ed.clone(), es1.clone(), es2],
        };

        assert_eq!(ring.active(Algorithm::ES256, 100).unwrap().kid, es1.kid);
        assert_eq!(ring.active(Algorithm::EdDSA, 100).unwrap().kid, ed.kid);
    }

    #[test]
    fn the_retention_covers_the_longest_token_lifetime_and_the_leeway() {
        let mut settings = Settings::default();
        settings.tokens.leeway_secs = 5;
        settings.tokens.access_ttl_secs = 60;
        assert_eq!(
            retention_for(&settings),
            Duration::from_secs(settings.tokens.id_token_ttl_secs + 5)
        );
        settings.tokens.access_ttl_secs = 3_600;
        assert_eq!(retention_for(&settings), Duration::from_secs(3_605));
    }
}
