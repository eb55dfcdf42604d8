//! A cap on how much of a shared resource (password hashing) one client address holds at once.
//!
//! The map holds an entry only while that address has work in flight, so it never has more
//! entries than there are slots in use in all: a stranger cannot make it grow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// In-flight work per address, each address capped at `per_address`.
#[derive(Debug)]
pub struct AddressSlots {
    per_address: usize,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

/// One slot held by one address; released on drop, whatever happens to the work.
#[derive(Debug)]
pub struct AddressSlot {
    address: String,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

impl AddressSlots {
    /// At most `per_address` slots per address (at least one).
    pub fn new(per_address: usize) -> Self {
        Self {
            per_address: per_address.max(1),
            in_flight: Arc::default(),
        }
    }

    /// Takes a slot for `address`, or `None` when it already holds its share.
    pub fn acquire(&self, address: &str) -> Option<AddressSlot> {
        let mut in_flight = self.in_flight.lock().expect("address slots poisoned");
        let held = in_flight.entry(address.to_owned()).or_insert(0);
        if *held >= self.per_address {
            return None;
        }
        *held += 1;
        Some(AddressSlot {
            address: address.to_owned(),
            in_flight: self.in_flight.clone(),
        })
    }

    /// Addresses with work in flight now.
    #[cfg(test)]
    pub fn addresses(&self) -> usize {
        self.in_flight.lock().expect("address slots poisoned").len()
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut in_flight = self.in_flight.lock().expect("address slots poisoned");
        if let Some(held) = in_flight.get_mut(&self.address) {
            *held -= 1;
            if *held == 0 {
                in_flight.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_share_and_no_more() {
        let slots = AddressSlots::new(2);
        let first = slots.acquire("192.0.2.1").unwrap();
        let _second = slots.acquire("192.0.2.1").unwrap();
        assert!(slots.acquire("192.0.2.1").is_none());
        assert!(slots.acquire("192.0.2.2").is_some());
        drop(first);
        assert!(slots.acquire("192.0.2.1").is_some());
    }

    #[test]
    fn addresses_are_forgotten_when_their_work_ends() {
        let slots = AddressSlots::new(1);
        let held: Vec<_> = (0..100)
            .map(|i| slots.acquire(&format!("10.0.0.{i}")).unwrap())
            .collect();
        assert_eq!(slots.addresses(), 100);
        drop(held);
        assert_eq!(slots.addresses(), 0);
    }
}
