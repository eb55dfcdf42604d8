//! A small, bounded cache of introspection answers, keyed by the SHA-256 of the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;

use crate::caller::Caller;

/// The cache key: SHA-256 of the token, so the cache never holds a usable token.
pub type TokenKey = [u8; 32];

/// Hashes a token into its cache key.
pub fn token_key(token: &str) -> TokenKey {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    key
}

/// What authd said about a token: active (with its caller) or inactive.
pub type Answer = Option<Arc<Caller>>;

struct Entry {
    answer: Answer,
    expires_at: Instant,
}

/// Introspection answers, each kept for at most the TTL and never past the token's `exp`.
pub struct IntrospectionCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<TokenKey, Entry>>,
}

impl IntrospectionCache {
    /// A cache keeping at most `capacity` answers for at most `ttl` each.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`, if one is cached and still fresh at `now`.
    pub fn get(&self, key: &TokenKey, now: Instant) -> Option<Answer> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(entry) if entry.expires_at > now => Some(entry.answer.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` until `now + ttl`, or until the token's `exp` if that comes first.
    /// `now_unix_ms` is the wall clock at `now`, to compare with `exp` (Unix seconds).
    pub fn insert(&self, key: TokenKey, answer: Answer, now: Instant, now_unix_ms: i64) {
        let mut lifetime = self.ttl;
        if let Some(caller) = &answer {
            let left_ms = caller.expires_at.saturating_mul(1000) - now_unix_ms;
            if left_ms <= 0 {
                return;
            }
            lifetime = lifetime.min(Duration::from_millis(left_ms as u64));
        }
        if lifetime.is_zero() || self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, entry| entry.expires_at > now);
            if entries.len() >= self.capacity {
                // Still full of fresh answers: drop the one that would expire first.
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires_at)
                    .map(|(key, _)| *key);
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(
            key,
            Entry {
                answer,
                expires_at: now + lifetime,
            },
        );
    }

    /// Number of answers held (fresh or not yet purged).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_UNIX: i64 = 1_800_000_000;

    fn caller(expires_at: i64) -> Answer {
        Some(Arc::new(Caller {
            subject: "u1".into(),
            client_id: "public".into(),
            username: Some("demo".into()),
            scopes: vec!["items:read".into()],
            roles: vec![],
            expires_at,
            token_id: None,
            acr: None,
            amr: Vec::new(),
            auth_time: None,
            dpop_jkt: None,
            actor: None,
        }))
    }

    #[test]
    fn an_active_answer_is_reused_until_the_ttl_ends() {
        let cache = IntrospectionCache::new(Duration::from_secs(5), 10);
        let now = Instant::now();
        let key = token_key("t1");
        cache.insert(key, caller(NOW_UNIX + 600), now, NOW_UNIX * 1000);
        assert!(
            cache
                .get(&key, now + Duration::from_millis(4_999))
                .unwrap()
                .is_some()
        );
        assert!(cache.get(&key, now + Duration::from_secs(5)).is_none());
    }

    #[test]
    fn an_active_answer_is_never_reused_past_the_token_exp() {
        let cache = IntrospectionCache::new(Duration::from_secs(5), 10);
        let now = Instant::now();
        let key = token_key("t1");
        // The token expires 1.5 s from now: well inside the 5 s TTL.
        cache.insert(key, caller(NOW_UNIX + 2), now, NOW_UNIX * 1000 + 500);
        assert!(
            cache
                .get(&key, now + Duration::from_millis(1_499))
                .is_some()
        );
        assert!(
            cache
                .get(&key, now + Duration::from_millis(1_500))
                .is_none()
        );
    }

    #[test]
    fn an_already_expired_token_is_not_cached() {
        let cache = IntrospectionCache::new(Duration::from_secs(5), 10);
        let key = token_key("t1");
        cache.insert(key, caller(NOW_UNIX), Instant::now(), NOW_UNIX * 1000);
        assert!(cache.is_empty());
    }

    #[test]
    fn an_inactive_answer_is_kept_no_longer_than_the_ttl() {
        let cache = IntrospectionCache::new(Duration::from_secs(1), 10);
        let now = Instant::now();
        let key = token_key("junk");
        cache.insert(key, None, now, NOW_UNIX * 1000);
        assert_eq!(cache.get(&key, now), Some(None));
        assert_eq!(cache.get(&key, now + Duration::from_secs(1)), None);
    }

    #[test]
    fn a_zero_ttl_disables_caching() {
        let cache = IntrospectionCache::new(Duration::ZERO, 10);
        cache.insert(
            token_key("t1"),
            caller(NOW_UNIX + 600),
            Instant::now(),
            NOW_UNIX * 1000,
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = IntrospectionCache::new(Duration::from_secs(5), 3);
        let now = Instant::now();
        for i in 0..10 {
            let at = now + Duration::from_millis(i);
            cache.insert(
                token_key(&format!("t{i}")),
                caller(NOW_UNIX + 600),
                at,
                NOW_UNIX * 1000,
            );
            assert!(cache.len() <= 3);
        }
        // The newest answers survive; the ones expiring first were evicted.
        assert!(cache.get(&token_key("t9"), now).is_some());
        assert!(cache.get(&token_key("t0"), now).is_none());
    }

    #[test]
    fn expired_entries_are_purged_before_fresh_ones_are_evicted() {
        let cache = IntrospectionCache::new(Duration::from_secs(1), 2);
        let now = Instant::now();
        cache.insert(token_key("old"), None, now, NOW_UNIX * 1000);
        let later = now + Duration::from_secs(2);
        cache.insert(token_key("a"), None, later, NOW_UNIX * 1000);
        cache.insert(token_key("b"), None, later, NOW_UNIX * 1000);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&token_key("a"), later).is_some());
        assert!(cache.get(&token_key("b"), later).is_some());
    }

    #[test]
    fn the_key_is_the_sha256_of_the_token() {
        assert_eq!(token_key("abc")[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}
