//! Proofs seen at this instance's protected resources, to refuse their replay (RFC 9449
//! section 11.1). Only proofs that verified for a live token bound to their key get in, so what
//! a caller can add is bounded by the signatures it can make us verify; and by `capacity`.
//!
//! Each proof is remembered as a 64-bit fingerprint of its replay key (already a SHA-256) in one
//! of two generations, each `span` seconds long, where `span` is the longest an accepted proof
//! stays acceptable. A proof recorded in generation `g` has left its window by the end of
//! generation `g + 1`, when `g` is dropped whole: about 16 bytes per proof and no per-entry
//! expiry bookkeeping, so a sustained stream of DPoP requests costs little memory.

use std::collections::HashSet;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a proof could not be recorded.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// Seen before.
    Replayed,
    /// The memory is full of proofs still inside their window.
    Full,
}

#[derive(Default)]
struct Generations {
    index: i64,
    current: HashSet<u64>,
    previous: HashSet<u64>,
}

/// The proofs seen within the last two generations.
pub struct ResourceReplay {
    seen: Mutex<Generations>,
    span: i64,
    capacity: usize,
}

impl ResourceReplay {
    /// Remembers at most `capacity` proofs, each acceptable for at most `span` seconds after it
    /// is recorded.
    pub fn new(capacity: usize, span: i64) -> Self {
        Self {
            seen: Mutex::new(Generations::default()),
            span: span.max(1),
            capacity,
        }
    }

    /// Records `key` (a proof's base64url SHA-256 replay key), unless it was seen before.
    pub fn record(&self, key: &str, now: i64) -> Result<(), ReplayRefusal> {
        let fingerprint = fingerprint(key);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.advance_to(now.div_euclid(self.span));
        if seen.current.contains(&fingerprint) || seen.previous.contains(&fingerprint) {
            return Err(ReplayRefusal::Replayed);
        }
        if seen.current.len() + seen.previous.len() >= self.capacity {
            return Err(ReplayRefusal::Full);
        }
        seen.current.insert(fingerprint);
        Ok(())
    }

    /// Drops the generations whose proofs have all left their window. `record` does this too,
    /// but only when a proof arrives: after a burst of DPoP requests, a timer calls this so the
    /// burst's memory does not stay until the next one.
    pub fn forget_expired(&self, now: i64) {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .advance_to(now.div_euclid(self.span));
    }
}

impl Generations {
    /// Makes generation `index` the current one.
    fn advance_to(&mut self, index: i64) {
        if index == self.index {
            return;
        }
        // Dropped, not cleared: the memory of a burst goes back to the allocator.
        self.previous = if index == self.index + 1 {
            std::mem::take(&mut self.current)
        } else {
            HashSet::new()
        };
        self.current = HashSet::new();
        self.index = index;
    }
}

/// 64 bits of the key's hash: two different proofs collide with odds of about one in 2^64 per
/// pair, which would refuse a good proof, never accept a replayed one.
fn fingerprint(key: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let decoded = URL_SAFE_NO_PAD.decode(key).unwrap_or_default();
    match decoded.get(..8) {
        Some(head) => bytes.copy_from_slice(head),
        // Not a hash (never the case for authd's own replay keys): fold the text instead.
        None => {
            for (i, byte) in key.bytes().enumerate() {
                bytes[i % 8] ^= byte;
            }
        }
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> String {
        URL_SAFE_NO_PAD.encode([n; 32])
    }

    #[test]
    fn a_proof_is_refused_again_until_its_window_has_surely_passed() {
        let replay = ResourceReplay::new(10, 60);
        assert_eq!(replay.record(&key(1), 10), Ok(()));
        assert_eq!(replay.record(&key(1), 59), Err(ReplayRefusal::Replayed));
        // The next generation still remembers it ...
        assert_eq!(replay.record(&key(1), 119), Err(ReplayRefusal::Replayed));
        // ... and the one after has forgotten it: by then its window (60 s) is over.
        assert_eq!(replay.record(&key(1), 120), Ok(()));
        // A pause longer than a generation forgets everything at once.
        assert_eq!(replay.record(&key(2), 121), Ok(()));
        assert_eq!(replay.record(&key(2), 400), Ok(()));
    }

    #[test]
    fn the_memory_is_bounded_and_frees_up_as_generations_pass() {
        let replay = ResourceReplay::new(2, 60);
        assert_eq!(replay.record(&key(1), 0), Ok(()));
        assert_eq!(replay.record(&key(2), 61), Ok(()));
        assert_eq!(replay.record(&key(3), 62), Err(ReplayRefusal::Full));
        assert_eq!(replay.record(&key(3), 120), Ok(()));
    }

    #[test]
    fn forgetting_on_a_timer_keeps_what_is_still_inside_its_window() {
        let replay = ResourceReplay::new(10, 60);
        assert_eq!(replay.record(&key(1), 10), Ok(()));
        replay.forget_expired(70);
        assert_eq!(replay.record(&key(1), 70), Err(ReplayRefusal::Replayed));
        replay.forget_expired(120);
        assert_eq!(replay.seen.lock().unwrap().previous.len(), 0);
        assert_eq!(replay.seen.lock().unwrap().current.len(), 0);
        assert_eq!(replay.record(&key(1), 120), Ok(()));
    }
}
