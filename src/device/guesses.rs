//! Wrong user codes, throttled per address (RFC 8628 section 5.1): a guesser gets
//! `oauth.device_user_code_attempts` wrong codes per `security.lockout_window_secs` from one
//! address (IPv4, or an IPv6 /64), then growing locks, on the same shared counters as logins.
//! A right code gives its guess back.

use crate::credentials::{LockoutPolicy, address_counter};
use crate::store::{Store, StoreError};

/// Which counters `address_counter` names for user codes.
const PURPOSE: &str = "device-ip";

/// The guess budget of one address.
pub struct UserCodeGuesses<'a> {
    store: &'a Store,
    lockout: &'a LockoutPolicy,
    key: String,
    threshold: i64,
}

impl<'a> UserCodeGuesses<'a> {
    /// The budget of `ip` (all unknown addresses share one).
    pub fn new(
        store: &'a Store,
        lockout: &'a LockoutPolicy,
        ip: Option<&str>,
        threshold: u32,
    ) -> Self {
        Self {
            store,
            lockout,
            key: address_counter(PURPOSE, ip),
            threshold: i64::from(threshold),
        }
    }

    /// Takes a guess from the budget: `Err(retry_after)` when it is spent.
    pub async fn reserve(&self, now: i64) -> Result<Result<(), i64>, StoreError> {
        self.lockout
            .reserve_guess(self.store, &self.key, self.threshold, now)
            .await
    }

    /// Settles a reserved guess: a right one is given back, a wrong one stays counted.
    pub async fn settle(&self, right: bool, now: i64) -> Result<(), StoreError> {
        if right {
            self.lockout.guess_succeeded(self.store, &self.key).await
        } else {
            self.lockout
                .guess_failed(self.store, &self.key, self.threshold, now)
                .await
        }
    }
}
