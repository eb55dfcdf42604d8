//! Proofs seen at this instance's protected resources, to refuse their replay (RFC 9449
//! section 11.1). Bounded: at most `capacity` proofs, each forgotten once its `iat` window has
//! passed; only proofs that verified for a live token bound to their key get in.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Why a proof could not be recorded.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// Seen before.
    Replayed,
    /// The memory is full of proofs still inside their window.
    Full,
}

#[derive(Default)]
struct Seen {
    expiry: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

/// The proofs seen, with when each may be forgotten.
pub struct ResourceReplay {
    seen: Mutex<Seen>,
    capacity: usize,
}

impl ResourceReplay {
    /// Remembers at most `capacity` proofs.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(Seen::default()),
            capacity,
        }
    }

    /// Records `key` (a proof's replay key) until `expires_at`, unless it is already there.
    pub fn record(&self, key: &str, expires_at: i64, now: i64) -> Result<(), ReplayRefusal> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget what left its window; entries come roughly in expiry order, and one that
        // outlives those behind it only delays their removal, never keeps them past the cap.
        while let Some((expiry, _)) = seen.order.front() {
            if *expiry > now {
                break;
            }
            if let Some((_, old)) = seen.order.pop_front()
                && seen.expiry.get(&old).is_some_and(|e| *e <= now)
            {
                seen.expiry.remove(&old);
            }
        }
        match seen.expiry.get(key) {
            Some(expiry) if *expiry > now => return Err(ReplayRefusal::Replayed),
            _ => {}
        }
        if seen.expiry.len() >= self.capacity {
            return Err(ReplayRefusal::Full);
        }
        seen.expiry.insert(key.to_owned(), expires_at);
        seen.order.push_back((expires_at, key.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_accepted_once_within_its_window_and_the_memory_is_bounded() {
        let replay = ResourceReplay::new(2);
        assert_eq!(replay.record("a", 100, 10), Ok(()));
        assert_eq!(replay.record("a", 100, 20), Err(ReplayRefusal::Replayed));
        assert_eq!(replay.record("b", 110, 20), Ok(()));
        assert_eq!(replay.record("c", 120, 20), Err(ReplayRefusal::Full));
        // "a" left its window: room again, and "a" itself would be accepted.
        assert_eq!(replay.record("c", 160, 100), Ok(()));
        assert_eq!(replay.record("a", 170, 105), Err(ReplayRefusal::Full));
        assert_eq!(replay.record("a", 170, 110), Ok(()));
    }
}
