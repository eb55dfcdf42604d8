//! Coalescing events counted where they happen.
//!
//! A busy client's client_credentials issuances are one row a second (see `AuditEvent::coalescing`).
//! The first event of a second still travels through the queue and becomes that row; the rest
//! only count themselves here, under one short lock, so that they cost neither a queue message
//! nor a copy of their fields. The writer closes a tally when it writes the row and adds what
//! the tally counted. Anything a tally cannot take (values a row would trim, a full table, a
//! first event not queued yet) goes through the queue as before, where the writer merges it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use foldhash::fast::RandomState;

use super::{AuditEvent, STORED_CHARS};

/// Most tallies open at once; each stands for one client, address and scope in one second,
/// and closes when its row is written, about a second later.
const MAX_OPEN: usize = 1_024;

/// An event's fields, borrowed: what identifies its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventFields<'a> {
    /// Dotted verb.
    pub action: &'static str,
    /// Who did it.
    pub actor: Option<&'a str>,
    /// What it was done to.
    pub subject: Option<&'a str>,
    /// Through which client.
    pub client_id: Option<&'a str>,
    /// From which address.
    pub ip: Option<&'a str>,
    /// Short detail; never a secret.
    pub detail: Option<&'a str>,
}

impl<'a> EventFields<'a> {
    /// The fields of `event`.
    pub fn of(event: &'a AuditEvent) -> Self {
        Self {
            action: event.action,
            actor: event.actor.as_deref(),
            subject: event.subject.as_deref(),
            client_id: event.client_id.as_deref(),
            ip: event.ip.as_deref(),
            detail: event.detail.as_deref(),
        }
    }

    /// The owned event, marked coalescing.
    pub fn to_event(self) -> AuditEvent {
        AuditEvent {
            action: self.action,
            actor: self.actor.map(str::to_owned),
            subject: self.subject.map(str::to_owned),
            client_id: self.client_id.map(str::to_owned),
            ip: self.ip.map(str::to_owned),
            detail: self.detail.map(str::to_owned),
            coalescing: true,
        }
    }

    /// Whether a row stores every value as it is (no cut, no NUL replaced), so that equal fields
    /// here mean equal rows there.
    fn stored_as_is(&self) -> bool {
        let [actor, subject, client, detail] = STORED_CHARS;
        [
            (self.actor, actor),
            (self.subject, subject),
            (self.client_id, client),
            (self.detail, detail),
        ]
        .into_iter()
        .all(|(value, max_chars)| {
            value.is_none_or(|value| value.len() <= max_chars && !value.contains('\0'))
        }) && self.ip.is_none_or(|ip| !ip.contains('\0'))
    }
}

/// What `Tallies::count` did with an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Counted {
    /// Counted into its second's open tally: nothing more to do.
    Joined,
    /// Opened a tally: queue the event with this key, then call `queued`.
    First(u64),
    /// Queue the event as it is.
    Alone,
}

/// One second's count of one kind of event, after its first.
struct Tally {
    second: i64,
    /// The first event, to tell a hash collision from a repeat.
    first: AuditEvent,
    /// The first event is in the queue: only then may others join (so that a flush queued after
    /// a joined event always finds the row it joined).
    queued: bool,
    later: i64,
}

/// The open tallies, shared by every `AuditLog` handle and the writer.
pub struct Tallies {
    // Keyed by the fields' seeded hash; a collision is told apart by `Tally::first`.
    open: Mutex<HashMap<u64, Tally, RandomState>>,
    hasher: RandomState,
}

impl Tallies {
    /// No tally open.
    pub fn new() -> Self {
        Self {
            open: Mutex::new(HashMap::default()),
            hasher: RandomState::default(),
        }
    }

    /// Counts a coalescing event of wall-clock second `second`.
    pub fn count(&self, second: i64, fields: EventFields<'_>) -> Counted {
        if !fields.stored_as_is() {
            return Counted::Alone;
        }
        let key = self.hasher.hash_one((second, fields));
        let mut open = self.lock();
        let full = open.len() >= MAX_OPEN;
        match open.entry(key) {
            Entry::Occupied(mut found) => {
                let tally = found.get_mut();
                // A hash collision, or a first event still on its way: the queue takes it.
                if !tally.queued
                    || tally.second != second
                    || EventFields::of(&tally.first) != fields
                {
                    return Counted::Alone;
                }
                tally.later += 1;
                Counted::Joined
            }
            Entry::Vacant(_) if full => Counted::Alone,
            Entry::Vacant(slot) => {
                slot.insert(Tally {
                    second,
                    first: fields.to_event(),
                    queued: false,
                    later: 0,
                });
                Counted::First(key)
            }
        }
    }

    /// The first event of tally `key` is in the queue: later ones may join it.
    pub fn queued(&self, key: u64) {
        if let Some(tally) = self.lock().get_mut(&key) {
            tally.queued = true;
        }
    }

    /// Closes tally `key` (its row is being written) and returns how many events joined it.
    pub fn close(&self, key: u64) -> i64 {
        self.lock().remove(&key).map_or(0, |tally| tally.later)
    }

    /// A first event that could not be queued: nothing will close its tally.
    pub fn forget(&self, key: u64) {
        self.lock().remove(&key);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Tally, RandomState>> {
        // A panic while the lock was held leaves counts that are still counts.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued<'a>(client: &'a str, ip: &'a str) -> EventFields<'a> {
        EventFields {
            action: "token.issued",
            actor: Some(client),
            subject: None,
            client_id: Some(client),
            ip: Some(ip),
            detail: Some("grant=client_credentials scope=a"),
        }
    }

    fn opened(tallies: &Tallies, second: i64, fields: EventFields<'_>) -> u64 {
        let Counted::First(key) = tallies.count(second, fields) else {
            panic!("expected a new tally");
        };
        tallies.queued(key);
        key
    }

    #[test]
    fn repeats_of_one_second_join_its_tally_until_it_closes() {
        let tallies = Tallies::new();
        let key = opened(&tallies, 5, issued("svc", "10.0.0.1"));

        for _ in 0..3 {
            assert_eq!(tallies.count(5, issued("svc", "10.0.0.1")), Counted::Joined);
        }
        assert_eq!(tallies.close(key), 3);
        assert_eq!(tallies.close(key), 0, "a closed tally counts nothing more");
        // After the close, the next repeat opens a tally of its own (and so a row).
        assert!(matches!(
            tallies.count(5, issued("svc", "10.0.0.1")),
            Counted::First(_)
        ));
    }

    #[test]
    fn another_second_client_or_address_is_another_tally() {
        let tallies = Tallies::new();
        let first = opened(&tallies, 5, issued("svc", "10.0.0.1"));
        let others = [
            opened(&tallies, 6, issued("svc", "10.0.0.1")),
            opened(&tallies, 5, issued("other", "10.0.0.1")),
            opened(&tallies, 5, issued("svc", "10.0.0.2")),
        ];

        assert!(others.iter().all(|key| *key != first));
        assert_eq!(tallies.close(first), 0);
    }

    #[test]
    fn nothing_joins_a_first_event_that_is_not_queued_yet() {
        let tallies = Tallies::new();
        let Counted::First(key) = tallies.count(5, issued("svc", "10.0.0.1")) else {
            panic!("expected a new tally");
        };

        assert_eq!(tallies.count(5, issued("svc", "10.0.0.1")), Counted::Alone);
        tallies.queued(key);
        assert_eq!(tallies.count(5, issued("svc", "10.0.0.1")), Counted::Joined);
        assert_eq!(tallies.close(key), 1);
    }

    #[test]
    fn values_a_row_would_change_go_through_the_queue() {
        let tallies = Tallies::new();
        let long = "c".repeat(129);
        assert_eq!(tallies.count(5, issued(&long, "10.0.0.1")), Counted::Alone);
        assert_eq!(
            tallies.count(5, issued("s\0vc", "10.0.0.1")),
            Counted::Alone
        );
        assert_eq!(
            tallies.count(5, issued("svc", "10.0.0.1\0")),
            Counted::Alone
        );
    }

    #[test]
    fn at_most_max_open_tallies_then_events_go_through_the_queue() {
        let tallies = Tallies::new();
        let addresses: Vec<String> = (0..=MAX_OPEN).map(|n| format!("10.0.{n}")).collect();
        for address in &addresses[..MAX_OPEN] {
            opened(&tallies, 5, issued("svc", address));
        }

        assert_eq!(
            tallies.count(5, issued("svc", &addresses[MAX_OPEN])),
            Counted::Alone
        );
        // Open tallies still count their repeats.
        assert_eq!(
            tallies.count(5, issued("svc", &addresses[0])),
            Counted::Joined
        );
    }
}
