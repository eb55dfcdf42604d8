//! Short-lived, bounded copies of what every introspection asks the database, so the hot path
//! costs a hash lookup instead of round trips.
//!
//! Freshness is the contract: users and clients are re-read after `ENTRY_TTL`, and revocations
//! made by any instance are polled every `REVOCATION_POLL`, so a revocation, a disabled user or a
//! deleted client is honoured everywhere within one second. A verified token is kept no longer
//! than an access token's lifetime, and only as long as its signing key still verifies.
//!
//! The revoked set is bounded (`tokens.revocation_cache_entries`). When it overflows, the tokens
//! expiring first are dropped from memory and, until they have all expired, tokens not found in
//! memory are looked up in the database.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};

use crate::clock::{MAX_CLOCK_SKEW_SECS, unix_now, unix_now_ms};
use crate::config::Settings;
use crate::domain::ClientId;
use crate::store::{Client, Store, StoreError, User};
use crate::tokens::VerifiedToken;

/// How long a user or client row is trusted.
const ENTRY_TTL: Duration = Duration::from_millis(500);
/// How often new revocations are fetched.
const REVOCATION_POLL: Duration = Duration::from_millis(250);
/// Overlap of successive polls: rows are stamped with the revoking instance's clock, which may lag
/// ours by `MAX_CLOCK_SKEW_SECS`, and transactions may commit late. Rows seen twice are deduplicated.
const REVOCATION_OVERLAP_MS: i64 = (MAX_CLOCK_SKEW_SECS + 2) * 1000;
/// Most entries per map; beyond it the map is emptied (cheap, and rare with sane limits).
const MAX_ENTRIES: usize = 100_000;

/// A map whose entries expire.
struct ExpiringMap<K, V> {
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> ExpiringMap<K, V> {
    fn new() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.read().expect("cache lock poisoned");
        entries
            .get(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, value)| value.clone())
    }

    fn insert(&self, key: K, value: V, until: Instant) {
        let mut entries = self.entries.write().expect("cache lock poisoned");
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (expiry, _)| *expiry > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (until, value));
    }

    fn remove(&self, key: &K) {
        self.entries
            .write()
            .expect("cache lock poisoned")
            .remove(key);
    }
}

/// Revoked access tokens (jti -> exp), at most `capacity` of them.
struct RevokedSet {
    entries: HashMap<String, i64>,
    capacity: usize,
    // Tokens stay valid this long past `exp` (`tokens.leeway_secs`).
    leeway: i64,
    // Until this Unix time some revoked token dropped from memory may still be valid.
    incomplete_until: i64,
}

impl RevokedSet {
    fn new(capacity: usize, leeway: i64) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
            leeway,
            incomplete_until: i64::MIN,
        }
    }

    /// `Some(revoked?)` when memory can tell, `None` when only the database can.
    fn status(&self, jti: &str, now: i64) -> Option<bool> {
        if self.entries.contains_key(jti) {
            Some(true)
        } else if now <= self.incomplete_until {
            None
        } else {
            Some(false)
        }
    }

    fn absorb(&mut self, revoked: Vec<(String, i64)>, now: i64) {
        let horizon = now - self.leeway;
        self.entries.retain(|_, exp| *exp >= horizon);
        self.entries
            .extend(revoked.into_iter().filter(|(_, exp)| *exp >= horizon));
        if self.entries.len() > self.capacity {
            self.trim();
        }
    }

    // Drops the tokens expiring first: they stop needing the database soonest. Trimming to three
    // quarters of the capacity keeps the sort rare.
    fn trim(&mut self) {
        let keep = self.capacity - self.capacity / 4;
        let mut expiries: Vec<i64> = self.entries.values().copied().collect();
        expiries.sort_unstable();
        let cutoff = expiries[self.entries.len() - keep - 1];
        self.entries.retain(|_, exp| *exp > cutoff);
        self.incomplete_until = self.incomplete_until.max(cutoff + self.leeway);
    }
}

/// The caches behind introspection and client authentication.
pub struct StateCache {
    users: ExpiringMap<String, Option<User>>,
    clients: ExpiringMap<String, Option<Client>>,
    // SHA-256 of a token -> its verification, until `exp` or `verified_ttl`, whichever is first.
    verified: ExpiringMap<[u8; 32], Arc<VerifiedToken>>,
    // No cached verification outlives an access token's lifetime (plus leeway).
    verified_ttl: Duration,
    revoked: RwLock<RevokedSet>,
}

impl StateCache {
    /// An empty cache sized by `settings.tokens`.
    pub fn new(settings: &Settings) -> Self {
        let tokens = &settings.tokens;
        Self {
            users: ExpiringMap::new(),
            clients: ExpiringMap::new(),
            verified: ExpiringMap::new(),
            verified_ttl: Duration::from_secs(tokens.access_ttl_secs + tokens.leeway_secs),
            revoked: RwLock::new(RevokedSet::new(
                tokens.revocation_cache_entries,
                tokens.leeway_secs as i64,
            )),
        }
    }

    /// Loads current revocations and keeps polling for new ones while the cache lives.
    pub async fn start(store: Store, settings: &Settings) -> Result<Arc<Self>, StoreError> {
        let cache = Arc::new(Self::new(settings));
        cache.absorb_revocations(
            store
                .revocations_since(0, cache.revocation_horizon())
                .await?,
        );
        tokio::spawn(poll_revocations(Arc::downgrade(&cache), store));
        Ok(cache)
    }

    /// A user by id, from the cache or the database.
    pub async fn user(&self, store: &Store, id: &str) -> Result<Option<User>, StoreError> {
        if let Some(user) = self.users.get(&id.to_owned()) {
            return Ok(user);
        }
        let user = store.find_user_by_id(id).await?;
        self.users
            .insert(id.to_owned(), user.clone(), Instant::now() + ENTRY_TTL);
        Ok(user)
    }

    /// A client by id, from the cache or the database.
    pub async fn client(&self, store: &Store, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if let Some(client) = self.clients.get(&id.as_str().to_owned()) {
            return Ok(client);
        }
        let client = store.find_client(id).await?;
        self.clients.insert(
            id.as_str().to_owned(),
            client.clone(),
            Instant::now() + ENTRY_TTL,
        );
        Ok(client)
    }

    /// Forgets a user at once (this instance changed it).
    pub fn forget_user(&self, id: &str) {
        self.users.remove(&id.to_owned());
    }

    /// Forgets a client at once (this instance changed it).
    pub fn forget_client(&self, id: &str) {
        self.clients.remove(&id.to_owned());
    }

    /// A token verified before, if it has not expired; the caller must still check its `kid`.
    pub fn verified_token(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        self.verified.get(&token_digest(token))
    }

    /// Remembers a verification until the token's `exp`, and no longer than an access token lives.
    pub fn remember_verified(&self, token: &str, verified: Arc<VerifiedToken>) {
        let remaining = Duration::from_secs((verified.claims.exp - unix_now()).max(0) as u64);
        let until = Instant::now() + remaining.min(self.verified_ttl);
        self.verified.insert(token_digest(token), verified, until);
    }

    /// Whether the access token with `jti` is revoked: `None` when memory cannot tell (the set
    /// overflowed) and the database must be asked.
    pub fn revocation_status(&self, jti: &str) -> Option<bool> {
        self.revoked
            .read()
            .expect("cache lock poisoned")
            .status(jti, unix_now())
    }

    /// Records a revocation made by this instance.
    pub fn mark_revoked(&self, jti: &str, exp: i64) {
        self.absorb_revocations(vec![(jti.to_owned(), exp)]);
    }

    fn absorb_revocations(&self, revoked: Vec<(String, i64)>) {
        self.revoked
            .write()
            .expect("cache lock poisoned")
            .absorb(revoked, unix_now());
    }

    // Revocations of tokens that expired before this (leeway included) no longer matter.
    fn revocation_horizon(&self) -> i64 {
        unix_now() - self.revoked.read().expect("cache lock poisoned").leeway - 1
    }
}

fn token_digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

async fn poll_revocations(cache: Weak<StateCache>, store: Store) {
    let mut since_ms = unix_now_ms() - REVOCATION_OVERLAP_MS;
    let mut ticker = tokio::time::interval(REVOCATION_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(cache) = cache.upgrade() else { break };
        let polled_at = unix_now_ms();
        match store
            .revocations_since(since_ms, cache.revocation_horizon())
            .await
        {
            Ok(revoked) => {
                cache.absorb_revocations(revoked);
                since_ms = polled_at - REVOCATION_OVERLAP_MS;
            }
            Err(error) => log::warn!("polling revocations failed: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_not_returned() {
        let map = ExpiringMap::new();
        map.insert("a", 1, Instant::now() + Duration::from_secs(60));
        map.insert("b", 2, Instant::now() - Duration::from_millis(1));
        assert_eq!(map.get(&"a"), Some(1));
        assert_eq!(map.get(&"b"), None);
        map.remove(&"a");
        assert_eq!(map.get(&"a"), None);
    }

    #[test]
    fn revocations_are_kept_until_their_tokens_expire() {
        let cache = StateCache::new(&Settings::default());
        cache.mark_revoked("live", unix_now() + 60);
        cache.mark_revoked("stale", unix_now() - 1);
        cache.mark_revoked("other", unix_now() + 60);
        assert_eq!(cache.revocation_status("live"), Some(true));
        assert_eq!(cache.revocation_status("stale"), Some(false));
    }

    #[test]
    fn an_overflowing_revoked_set_keeps_the_longest_lived_and_defers_the_rest() {
        let now = 1_000;
        let mut set = RevokedSet::new(4, 0);
        let revoked = (0..10).map(|i| (format!("t{i}"), now + 10 + i)).collect();
        set.absorb(revoked, now);

        assert_eq!(set.entries.len(), 3);
        for kept in ["t7", "t8", "t9"] {
            assert_eq!(set.status(kept, now), Some(true), "{kept}");
        }
        assert_eq!(set.status("t0", now), None);
        assert_eq!(set.status("never-revoked", now), None);
        // Once every dropped token has expired, memory is complete again.
        assert_eq!(set.status("never-revoked", now + 17), Some(false));
    }

    #[test]
    fn a_zero_capacity_always_defers_to_the_database() {
        let mut set = RevokedSet::new(0, 0);
        set.absorb(vec![("a".into(), 2_000)], 1_000);
        assert!(set.entries.is_empty());
        assert_eq!(set.status("a", 1_000), None);
    }
}
