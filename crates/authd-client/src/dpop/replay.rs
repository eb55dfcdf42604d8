//! The per-process record of DPoP proof `jti`s already used (RFC 9449 section 11.1), bounded.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::digest;

/// Whether a proof may be used, by its `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// First use: it is now recorded.
    Fresh,
    /// This `jti` was used before, with the same key, while still within the window.
    Seen,
    /// The record is full of unexpired entries: the proof cannot be checked for replay.
    Full,
}

struct Seen {
    entries: HashMap<[u8; 32], i64>,
    last_sweep: i64,
}

/// `jti`s of accepted proofs, each kept until its proof could no longer pass the `iat` check.
/// Never more than `capacity` entries: when full of unexpired ones, new proofs are refused
/// rather than an old entry dropped, since dropping one would let its proof be replayed.
pub struct ReplayCache {
    capacity: usize,
    seen: Mutex<Seen>,
}

impl ReplayCache {
    /// A record holding at most `capacity` `jti`s.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: Mutex::new(Seen {
                entries: HashMap::new(),
                last_sweep: i64::MIN,
            }),
        }
    }

    /// Records `jti` (scoped to the key thumbprint `jkt`) until `expires_at` (Unix seconds),
    /// unless it is already recorded. Check and record happen under one lock, so two
    /// concurrent requests with the same proof cannot both pass.
    pub fn check_and_record(&self, jkt: &str, jti: &str, expires_at: i64, now: i64) -> Replay {
        let key = entry_key(jkt, jti);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = seen.entries.get(&key) {
            if *until >= now {
                return Replay::Seen;
            }
        } else if seen.entries.len() >= self.capacity {
            // At most one full sweep a second, so a flood cannot make every request scan.
            if seen.last_sweep < now {
                seen.entries.retain(|_, until| *until >= now);
                seen.last_sweep = now;
            }
            if seen.entries.len() >= self.capacity {
                return Replay::Full;
            }
        }
        seen.entries.insert(key, expires_at);
        Replay::Fresh
    }

    /// Number of `jti`s held (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// SHA-256 over the thumbprint and the `jti`: fixed-size entries whatever the `jti`, and one
/// client's `jti` cannot block another key's proofs.
fn entry_key(jkt: &str, jti: &str) -> [u8; 32] {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(jkt.as_bytes());
    context.update(b"\0");
    context.update(jti.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_passes_once_until_it_expires() {
        let cache = ReplayCache::new(10);
        assert_eq!(cache.check_and_record("k", "j1", 160, 100), Replay::Fresh);
        assert_eq!(cache.check_and_record("k", "j1", 160, 159), Replay::Seen);
        assert_eq!(cache.check_and_record("k", "j1", 160, 160), Replay::Seen);
        // Past its expiry the proof's iat fails anyway; the entry is simply renewed.
        assert_eq!(cache.check_and_record("k", "j1", 230, 161), Replay::Fresh);
        assert_eq!(
            cache.check_and_record("other key", "j1", 160, 100),
            Replay::Fresh
        );
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_then_refuses() {
        let cache = ReplayCache::new(2);
        assert_eq!(cache.check_and_record("k", "a", 110, 100), Replay::Fresh);
        assert_eq!(cache.check_and_record("k", "b", 200, 100), Replay::Fresh);
        assert_eq!(cache.check_and_record("k", "c", 200, 100), Replay::Full);
        assert_eq!(cache.len(), 2);
        // Once "a" expired, the sweep makes room.
        assert_eq!(cache.check_and_record("k", "c", 200, 111), Replay::Fresh);
        assert_eq!(cache.check_and_record("k", "d", 200, 111), Replay::Full);
        assert_eq!(cache.check_and_record("k", "b", 200, 111), Replay::Seen);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn zero_capacity_refuses_every_proof() {
        let cache = ReplayCache::new(0);
        assert_eq!(cache.check_and_record("k", "a", 110, 100), Replay::Full);
        assert!(cache.is_empty());
    }
}
