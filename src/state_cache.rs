//! Short-lived, bounded copies of what every introspection asks the database, so the hot path
//! costs a hash lookup instead of round trips.
//!
//! Freshness is the contract: users and clients are re-read after `ENTRY_TTL`, and revocations
//! made by any instance are polled every `REVOCATION_POLL`, so a revocation, a disabled user or a
//! deleted client is honoured everywhere within one second.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};

use crate::clock::{unix_now, unix_now_ms};
use crate::domain::ClientId;
use crate::store::{Client, Store, StoreError, User};
use crate::tokens::AccessClaims;

/// How long a user or client row is trusted.
const ENTRY_TTL: Duration = Duration::from_millis(500);
/// How often new revocations are fetched.
const REVOCATION_POLL: Duration = Duration::from_millis(250);
/// Overlap of successive polls, covering clock skew and transactions that commit late.
const REVOCATION_OVERLAP_MS: i64 = 5_000;
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

/// The caches behind introspection and client authentication.
pub struct StateCache {
    users: ExpiringMap<String, Option<User>>,
    clients: ExpiringMap<String, Option<Client>>,
    // SHA-256 of a token -> its verified claims, until the token's `exp`.
    verified: ExpiringMap<[u8; 32], Arc<AccessClaims>>,
    // jti -> exp of every revoked, unexpired access token.
    revoked: RwLock<HashMap<String, i64>>,
}

impl Default for StateCache {
    fn default() -> Self {
        Self {
            users: ExpiringMap::new(),
            clients: ExpiringMap::new(),
            verified: ExpiringMap::new(),
            revoked: RwLock::new(HashMap::new()),
        }
    }
}

impl StateCache {
    /// Loads current revocations and keeps polling for new ones while the cache lives.
    pub async fn start(store: Store) -> Result<Arc<Self>, StoreError> {
        let cache = Arc::new(Self::default());
        cache.absorb_revocations(store.revocations_since(0, unix_now()).await?);
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

    /// Claims of a token verified before, if it has not expired.
    pub fn verified_claims(&self, token: &str) -> Option<Arc<AccessClaims>> {
        self.verified.get(&token_digest(token))
    }

    /// Remembers a verified token's claims until its `exp`.
    pub fn remember_verified(&self, token: &str, claims: Arc<AccessClaims>) {
        let remaining = (claims.exp - unix_now()).max(0) as u64;
        let until = Instant::now() + Duration::from_secs(remaining);
        self.verified.insert(token_digest(token), claims, until);
    }

    /// Whether the access token with `jti` is revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked
            .read()
            .expect("cache lock poisoned")
            .contains_key(jti)
    }

    /// Records a revocation made by this instance.
    pub fn mark_revoked(&self, jti: &str, exp: i64) {
        self.absorb_revocations(vec![(jti.to_owned(), exp)]);
    }

    fn absorb_revocations(&self, revoked: Vec<(String, i64)>) {
        let now = unix_now();
        let mut set = self.revoked.write().expect("cache lock poisoned");
        set.retain(|_, exp| *exp > now);
        set.extend(revoked);
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
        match store.revocations_since(since_ms, unix_now()).await {
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
        let cache = StateCache::default();
        cache.mark_revoked("live", unix_now() + 60);
        cache.mark_revoked("stale", unix_now() - 1);
        cache.mark_revoked("other", unix_now() + 60);
        assert!(cache.is_revoked("live"));
        assert!(!cache.is_revoked("stale"));
    }
}
