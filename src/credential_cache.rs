//! Short-lived, bounded copies of what every introspection (and single sign-on) asks the
//! database, so the hot path costs a hash lookup instead of round trips: users, clients, verified
//! tokens, revocations, live browser sessions, and signed-in users' scopes and second-factor
//! policy.
//!
//! Freshness is the contract: users and clients are re-read after `ENTRY_TTL`, and revocations
//! made by any instance are polled every `REVOCATION_POLL`, so a revocation, a disabled user or a
//! deleted client is honoured everywhere within one second. A user or client older than
//! `ENTRY_TTL` is still served, until `MAX_STALENESS`, while one background task re-reads it:
//! requests never wait for that read, so a busy database cannot stall introspection every
//! half second (issue 16, mixed load). A verified token is kept no longer
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
use crate::domain::{ClientId, ScopeSet};
use crate::store::{Client, Session, Store, StoreError, User};
use crate::tokens::VerifiedToken;

/// How long a user or client row is trusted without re-reading it.
const ENTRY_TTL: Duration = Duration::from_millis(500);
/// How long it is served at most while its re-read is under way.
const MAX_STALENESS: Duration = Duration::from_millis(1000);
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

    fn remove(&self, key: &K) {
        self.entries
            .write()
            .expect("cache lock poisoned")
            .remove(key);
    }

    fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.entries
            .write()
            .expect("cache lock poisoned")
            .retain(|_, (_, value)| keep(value));
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

/// Rows that are re-read in the background once they are older than `ENTRY_TTL`.
struct RefreshingMap<V> {
    entries: RwLock<HashMap<String, RefreshingEntry<V>>>,
    next_version: std::sync::atomic::AtomicU64,
}

struct RefreshingEntry<V> {
    loaded: Instant,
    // Identifies this load; a re-read lands only on the entry it was started for, so a row this
    // instance changed (and forgot) is not brought back by a read that began before the change.
    version: u64,
    refreshing: bool,
    value: V,
}

/// What the map holds for a key.
enum Cached<V> {
    /// Young enough to serve as it is.
    Fresh(V),
    /// Serve it, and re-read it in the background (`Some(version)`) unless a re-read is under way.
    Stale(V, Option<u64>),
    /// Absent or too old: read it now.
    Missing,
}

impl<V: Clone> RefreshingMap<V> {
    fn new() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            next_version: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn get(&self, key: &str) -> Cached<V> {
        let now = Instant::now();
        {
            let entries = self.entries.read().expect("cache lock poisoned");
            match entries.get(key) {
                Some(entry) if now < entry.loaded + ENTRY_TTL => {
                    return Cached::Fresh(entry.value.clone());
                }
                Some(entry) if now < entry.loaded + MAX_STALENESS && entry.refreshing => {
                    return Cached::Stale(entry.value.clone(), None);
                }
                Some(entry) if now < entry.loaded + MAX_STALENESS => {}
                _ => return Cached::Missing,
            }
        }
        let mut entries = self.entries.write().expect("cache lock poisoned");
        match entries.get_mut(key) {
            Some(entry) if now < entry.loaded + MAX_STALENESS => {
                let claim = (!entry.refreshing).then_some(entry.version);
                entry.refreshing = true;
                Cached::Stale(entry.value.clone(), claim)
            }
            _ => Cached::Missing,
        }
    }

    fn insert(&self, key: String, value: V) {
        let version = self
            .next_version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries.write().expect("cache lock poisoned");
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, entry| now < entry.loaded + MAX_STALENESS);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        let entry = RefreshingEntry {
            loaded: Instant::now(),
            version,
            refreshing: false,
            value,
        };
        entries.insert(key, entry);
    }

    /// Lands a background re-read, if the entry is still the one it was started for; `None`
    /// (the read failed) lets the next request try again.
    fn refreshed(&self, key: &str, version: u64, value: Option<V>) {
        let mut entries = self.entries.write().expect("cache lock poisoned");
        let Some(entry) = entries
            .get_mut(key)
            .filter(|entry| entry.version == version)
        else {
            return;
        };
        if let Some(value) = value {
            entry.value = value;
            entry.loaded = Instant::now();
            entry.version = self
                .next_version
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        entry.refreshing = false;
    }

    fn remove(&self, key: &str) {
        self.entries
            .write()
            .expect("cache lock poisoned")
            .remove(key);
    }
}

/// The caches behind introspection and client authentication.
pub struct CredentialCache {
    users: Arc<RefreshingMap<Option<User>>>,
    /// Shared, not copied: every token request and introspection reads its client.
    clients: Arc<RefreshingMap<Option<Arc<Client>>>>,
    // SHA-256 of a token -> its verification, until `exp` or `verified_ttl`, whichever is first.
    verified: ExpiringMap<[u8; 32], Arc<VerifiedToken>>,
    // No cached verification outlives an access token's lifetime (plus leeway).
    verified_ttl: Duration,
    revoked: RwLock<RevokedSet>,
    // Live browser sessions by the hash of their cookie (never a miss: strangers' cookies are
    // not remembered), and the scopes of signed-in users: single sign-on reads neither table.
    sessions: ExpiringMap<String, Session>,
    user_scopes: ExpiringMap<String, ScopeSet>,
    // Whether a user's roles demand a second factor: every /authorize asks (issue 13).
    user_requires_mfa: ExpiringMap<String, bool>,
}

impl CredentialCache {
    /// An empty cache sized by `settings.tokens`.
    pub fn new(settings: &Settings) -> Self {
        let tokens = &settings.tokens;
        Self {
            users: Arc::new(RefreshingMap::new()),
            clients: Arc::new(RefreshingMap::new()),
            verified: ExpiringMap::new(),
            verified_ttl: Duration::from_secs(tokens.access_ttl_secs + tokens.leeway_secs),
            revoked: RwLock::new(RevokedSet::new(
                tokens.revocation_cache_entries,
                tokens.leeway_secs as i64,
            )),
            sessions: ExpiringMap::new(),
            user_scopes: ExpiringMap::new(),
            user_requires_mfa: ExpiringMap::new(),
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
        match self.users.get(id) {
            Cached::Fresh(user) | Cached::Stale(user, None) => Ok(user),
            Cached::Stale(user, Some(version)) => {
                let (map, store, id) = (self.users.clone(), store.clone(), id.to_owned());
                tokio::spawn(async move {
                    let read = store.find_user_by_id(&id).await.ok();
                    map.refreshed(&id, version, read);
                });
                Ok(user)
            }
            Cached::Missing => {
                let user = store.find_user_by_id(id).await?;
                self.users.insert(id.to_owned(), user.clone());
                Ok(user)
            }
        }
    }

    /// A client by id, from the cache or the database.
    pub async fn client(
        &self,
        store: &Store,
        id: &ClientId,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        match self.clients.get(id.as_str()) {
            Cached::Fresh(client) | Cached::Stale(client, None) => Ok(client),
            Cached::Stale(client, Some(version)) => {
                let (map, store, id) = (self.clients.clone(), store.clone(), id.clone());
                tokio::spawn(async move {
                    let read = store.find_client(&id).await.ok().map(|c| c.map(Arc::new));
                    map.refreshed(id.as_str(), version, read);
                });
                Ok(client)
            }
            Cached::Missing => {
                let client = store.find_client(id).await?.map(Arc::new);
                self.clients.insert(id.as_str().to_owned(), client.clone());
                Ok(client)
            }
        }
    }

    /// A client by a client_id as a token, a form or a stored request names it; `None` for a
    /// value that cannot be a client_id.
    pub async fn client_named(
        &self,
        store: &Store,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        match ClientId::parse(client_id) {
            Ok(id) => self.client(store, &id).await,
            Err(_) => Ok(None),
        }
    }

    /// Forgets a user, their scopes and their sessions at once (this instance changed them).
    pub fn forget_user(&self, id: &str) {
        self.users.remove(id);
        self.user_scopes.remove(&id.to_owned());
        self.user_requires_mfa.remove(&id.to_owned());
        self.forget_sessions_of(id);
    }

    /// A live session read less than `ENTRY_TTL` ago, by the hash of its cookie; the caller
    /// still checks its timeouts.
    pub fn session(&self, id_hash: &str) -> Option<Session> {
        self.sessions.get(&id_hash.to_owned())
    }

    /// Remembers a live session for `ENTRY_TTL`.
    pub fn remember_session(&self, id_hash: &str, session: Session) {
        self.sessions
            .insert(id_hash.to_owned(), session, Instant::now() + ENTRY_TTL);
    }

    /// Forgets one session (this instance ended it).
    pub fn forget_session(&self, id_hash: &str) {
        self.sessions.remove(&id_hash.to_owned());
    }

    /// Forgets every session of a user (this instance ended them, or changed the user).
    pub fn forget_sessions_of(&self, user_id: &str) {
        self.sessions.retain(|session| session.user_id != user_id);
    }

    /// The scopes a user's roles grant, from the cache or the database.
    pub async fn user_scopes(&self, store: &Store, user_id: &str) -> Result<ScopeSet, StoreError> {
        let key = user_id.to_owned();
        if let Some(scopes) = self.user_scopes.get(&key) {
            return Ok(scopes);
        }
        let scopes = store.scopes_of_user(user_id).await?;
        self.user_scopes
            .insert(key, scopes.clone(), Instant::now() + ENTRY_TTL);
        Ok(scopes)
    }

    /// Whether any role of a user demands a second factor, from the cache or the database;
    /// read as often as `user_scopes`, and as fresh.
    pub async fn user_requires_mfa(
        &self,
        store: &Store,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let key = user_id.to_owned();
        if let Some(required) = self.user_requires_mfa.get(&key) {
            return Ok(required);
        }
        let required = store.user_requires_mfa(user_id).await?;
        self.user_requires_mfa
            .insert(key, required, Instant::now() + ENTRY_TTL);
        Ok(required)
    }

    /// Forgets a client at once (this instance changed it).
    pub fn forget_client(&self, id: &str) {
        self.clients.remove(id);
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

async fn poll_revocations(cache: Weak<CredentialCache>, store: Store) {
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

    fn age(map: &RefreshingMap<u32>, key: &str, by: Duration) {
        let mut entries = map.entries.write().unwrap();
        let entry = entries.get_mut(key).unwrap();
        entry.loaded -= by;
    }

    #[test]
    fn an_aging_row_is_served_while_exactly_one_reread_runs() {
        let map = RefreshingMap::new();
        map.insert("a".into(), 1);
        assert!(matches!(map.get("a"), Cached::Fresh(1)));
        age(&map, "a", ENTRY_TTL);
        let Cached::Stale(1, Some(version)) = map.get("a") else {
            panic!("the first request past the TTL starts the re-read");
        };
        assert!(
            matches!(map.get("a"), Cached::Stale(1, None)),
            "only one re-read"
        );
        map.refreshed("a", version, Some(2));
        assert!(matches!(map.get("a"), Cached::Fresh(2)));
    }

    #[test]
    fn a_row_past_the_staleness_bound_is_read_again_before_answering() {
        let map = RefreshingMap::new();
        map.insert("a".into(), 1);
        age(&map, "a", MAX_STALENESS);
        assert!(matches!(map.get("a"), Cached::Missing));
    }

    #[test]
    fn a_reread_started_before_a_local_change_does_not_bring_the_old_row_back() {
        let map = RefreshingMap::new();
        map.insert("a".into(), 1);
        age(&map, "a", ENTRY_TTL);
        let Cached::Stale(_, Some(version)) = map.get("a") else {
            panic!("a re-read starts");
        };
        map.remove("a");
        map.insert("a".into(), 3);
        map.refreshed("a", version, Some(1));
        assert!(matches!(map.get("a"), Cached::Fresh(3)));
    }

    #[test]
    fn a_failed_reread_lets_the_next_request_try_again() {
        let map = RefreshingMap::new();
        map.insert("a".into(), 1);
        age(&map, "a", ENTRY_TTL);
        let Cached::Stale(_, Some(version)) = map.get("a") else {
            panic!("a re-read starts");
        };
        map.refreshed("a", version, None);
        assert!(matches!(map.get("a"), Cached::Stale(1, Some(_))));
    }

    #[test]
    fn expired_entries_are_not_returned() {
        let map = ExpiringMap::new();
        map.insert("a", 1, Instant::now() + Duration::from_secs(60));
        map.insert("b", 2, Instant::now() - Duration::from_millis(1));
        assert_eq!(map.get(&"a"), Some(1));
        assert_eq!(map.get(&"b"), None);
    }

    #[test]
    fn revocations_are_kept_until_their_tokens_expire() {
        let cache = CredentialCache::new(&Settings::default());
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
