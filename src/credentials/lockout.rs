//! Brute-force defence, in the database so the limits hold across instances. Three counters:
//!
//! - the username *from one address* (IPv6: its /64) locks after `lockout_threshold` failures:
//!   an attacker locks only themselves out, never the owner somewhere else;
//! - the address throttles after `ip_lockout_threshold` failures over any usernames;
//! - the username *from everywhere* has a guess budget (`account_guess_budget` per
//!   `account_guess_window_secs`); once a distributed attack has spent it, attempts for that
//!   username are refused, except from a browser with the user's device cookie or from an address
//!   the user signed in from within the window.
//!
//! An attempt is reserved before its password is hashed, in the same statement that checks the
//! limit: however many arrive at once, no more than a threshold are ever evaluated in a window.
//! A success gives its reservations back (and clears the pair's counter); a failure keeps them,
//! and the failure that fills a pair's or an address's window sets the lock. Locks grow (base,
//! 2x, 4x, … up to a cap) with each repeat. Unknown usernames count exactly like real ones, so a
//! refusal reveals nothing about which usernames exist.

use std::net::IpAddr;

use crate::config::SecuritySettings;
use crate::net::subscriber;
use crate::store::{AttemptLimit, Store, StoreError};

/// The counters one login attempt touches.
#[derive(Debug, Clone)]
pub struct LoginKeys {
    user: String,
    pair: String,
    account: String,
    ip: Option<String>,
    address: Option<String>,
}

impl LoginKeys {
    /// Keys for a login by `username` (as typed, normalised if possible) from `ip`.
    pub fn new(username: &str, ip: Option<&str>) -> Self {
        // PostgreSQL text cannot hold NUL; such a username cannot exist, so a stand-in will do.
        let username = username.to_lowercase().replace('\0', "\u{fffd}");
        let address = ip.map(address_bucket);
        Self {
            pair: format!("pair:{username}|{}", address.as_deref().unwrap_or("?")),
            account: format!("acct:{username}"),
            user: format!("user:{username}"),
            ip: address.as_ref().map(|address| format!("ip:{address}")),
            address,
        }
    }

    /// The user as device cookies and sign-in addresses name them.
    pub fn user_key(&self) -> &str {
        &self.user
    }

    /// The address as the throttle counts it (IPv4, or an IPv6 /64).
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }
}

/// The counter of `purpose` for the address `ip` (its IPv4 address or IPv6 /64).
pub fn address_counter(purpose: &str, ip: Option<&str>) -> String {
    format!(
        "{purpose}:{}",
        ip.map(address_bucket).as_deref().unwrap_or("?")
    )
}

/// The unit an address is throttled by (see `net::subscriber`), as the counters name it: an IPv4
/// address, or an IPv6 /64 written `prefix/64`. Text that is not an address is used as it is.
fn address_bucket(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(subscriber) {
        Ok(v4 @ IpAddr::V4(_)) => v4.to_string(),
        Ok(v6) => format!("{v6}/64"),
        Err(_) => ip.to_owned(),
    }
}

/// An attempt the limits let through; hand it back through `failed`, `succeeded` or `abandoned`.
#[derive(Debug)]
#[must_use = "a reserved attempt must end as a failure, a success or abandoned"]
pub struct LoginAttempt {
    keys: LoginKeys,
    // Whether the attempt counts against the account's guess budget (not when exempt).
    budgeted: bool,
}

/// Why an attempt is refused without being evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// This username from this address is locked.
    Locked,
    /// This address has failed too often.
    Throttled,
    /// The account's guess budget is spent, and the attempt comes from no known device or
    /// address of the user.
    BudgetSpent,
}

/// Whether an attempt may be evaluated.
#[derive(Debug)]
pub enum Reservation {
    /// Go ahead and check the password.
    Granted(LoginAttempt),
    /// Refuse without hashing.
    Refused {
        /// Which limit refused it.
        reason: RefusalReason,
        /// Seconds until trying again makes sense.
        retry_after: i64,
    },
}

/// Lock and throttle policy from settings.
#[derive(Debug, Clone)]
pub struct LockoutPolicy {
    user_threshold: i64,
    ip_threshold: i64,
    window_secs: i64,
    base_secs: i64,
    max_secs: i64,
    budget: i64,
    budget_window_secs: i64,
    // Lock length per previous lock count, as an SQL expression (see `lock_secs_sql`).
    lock_secs_sql: String,
}

impl LockoutPolicy {
    /// The policy `settings` describe.
    pub fn new(settings: &SecuritySettings) -> Self {
        let mut policy = Self {
            user_threshold: settings.lockout_threshold.max(1) as i64,
            ip_threshold: settings.ip_lockout_threshold.max(1) as i64,
            window_secs: settings.lockout_window_secs as i64,
            base_secs: settings.lockout_base_secs.max(1) as i64,
            max_secs: settings.lockout_max_secs.max(1) as i64,
            budget: settings.account_guess_budget.max(1) as i64,
            budget_window_secs: settings.account_guess_window_secs.max(1) as i64,
            lock_secs_sql: String::new(),
        };
        policy.lock_secs_sql = policy.lock_secs_sql();
        policy
    }

    /// How long a successful sign-in address stays known (the guess-budget window).
    pub fn known_address_secs(&self) -> i64 {
        self.budget_window_secs
    }

    /// Reserves an attempt against the address's, the pair's and the account's limits, all or
    /// nothing. `exempt_from_budget` is asked only when the budget is spent (it may cost a query).
    pub async fn reserve<F, Fut>(
        &self,
        store: &Store,
        keys: &LoginKeys,
        now: i64,
        exempt_from_budget: F,
    ) -> Result<Reservation, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<bool, StoreError>>,
    {
        let window_start = now - self.window_secs;
        // Always in this order (address, pair, account): see store/login_failures.rs.
        let mut limits = Vec::with_capacity(3);
        let mut reasons = Vec::with_capacity(3);
        if let Some(ip) = &keys.ip {
            limits.push(AttemptLimit {
                key: ip,
                threshold: self.ip_threshold,
                window_start,
            });
            reasons.push(RefusalReason::Throttled);
        }
        limits.push(AttemptLimit {
            key: &keys.pair,
            threshold: self.user_threshold,
            window_start,
        });
        reasons.push(RefusalReason::Locked);
        limits.push(AttemptLimit {
            key: &keys.account,
            threshold: self.budget,
            window_start: now - self.budget_window_secs,
        });
        reasons.push(RefusalReason::BudgetSpent);

        let Some(refused) = store.reserve_login_attempts(&limits, now).await? else {
            return Ok(Reservation::Granted(LoginAttempt {
                keys: keys.clone(),
                budgeted: true,
            }));
        };
        let reason = reasons[refused];
        if reason == RefusalReason::BudgetSpent && exempt_from_budget().await? {
            // The owner's device or address: the pair and address limits still hold.
            let without_budget = &limits[..limits.len() - 1];
            return match store.reserve_login_attempts(without_budget, now).await? {
                None => Ok(Reservation::Granted(LoginAttempt {
                    keys: keys.clone(),
                    budgeted: false,
                })),
                // The pair or address filled up meanwhile.
                Some(index) => {
                    self.refusal_for(store, limits[index].key, reasons[index], now)
                        .await
                }
            };
        }
        self.refusal_for(store, limits[refused].key, reason, now)
            .await
    }

    async fn refusal_for(
        &self,
        store: &Store,
        key: &str,
        reason: RefusalReason,
        now: i64,
    ) -> Result<Reservation, StoreError> {
        let counter = store.login_counter(key).await?;
        let retry_after = match (reason, counter) {
            // The budget's window ends a day after it began.
            (RefusalReason::BudgetSpent, Some((_, began))) => began + self.budget_window_secs - now,
            // Locked, or the window is full of attempts still being checked (those end within
            // a hash's time, in a lock or with room again).
            (_, Some((locked_until, _))) => locked_until - now,
            (_, None) => 1,
        };
        Ok(Reservation::Refused {
            reason,
            retry_after: retry_after.max(1),
        })
    }

    /// The attempt failed: it stays counted, and locks the pair or address whose window it
    /// filled. Returns the lock it set, in seconds, if any.
    pub async fn failed(
        &self,
        store: &Store,
        attempt: LoginAttempt,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut limits = Vec::with_capacity(2);
        if let Some(ip) = &attempt.keys.ip {
            limits.push((ip.as_str(), self.ip_threshold));
        }
        limits.push((attempt.keys.pair.as_str(), self.user_threshold));
        store
            .lock_logins_if_exhausted(&limits, now, &self.lock_secs_sql)
            .await
    }

    /// The attempt succeeded: the pair's counter (and any lock a concurrent burst set on it) is
    /// cleared, the address and the account get their reservations back, and the address
    /// becomes known for the user. One transaction.
    pub async fn succeeded(
        &self,
        store: &Store,
        attempt: LoginAttempt,
        now: i64,
    ) -> Result<(), StoreError> {
        let keys = &attempt.keys;
        let account = attempt.budgeted.then_some(keys.account.as_str());
        let signed_in = keys.address().map(|address| (keys.user_key(), address));
        store
            .settle_login_success(keys.ip.as_deref(), &keys.pair, account, signed_in, now)
            .await
    }

    /// The attempt was not evaluated after all (hashing was busy): nothing is counted.
    pub async fn abandoned(&self, store: &Store, attempt: LoginAttempt) -> Result<(), StoreError> {
        let keys = &attempt.keys;
        let mut release: Vec<&str> = Vec::with_capacity(3);
        release.extend(keys.ip.as_deref());
        release.push(&keys.pair);
        if attempt.budgeted {
            release.push(&keys.account);
        }
        store.release_login_attempts(&release).await
    }

    /// Reserves one guess of something other than a password (a device flow's user code) on
    /// the counter `key`, allowing `threshold` wrong guesses per window before the same growing
    /// locks as logins: `Err(retry_after)` when refused.
    pub async fn reserve_guess(
        &self,
        store: &Store,
        key: &str,
        threshold: i64,
        now: i64,
    ) -> Result<Result<(), i64>, StoreError> {
        let limit = AttemptLimit {
            key,
            threshold: threshold.max(1),
            window_start: now - self.window_secs,
        };
        if store.reserve_login_attempts(&[limit], now).await?.is_none() {
            return Ok(Ok(()));
        }
        match self
            .refusal_for(store, key, RefusalReason::Throttled, now)
            .await?
        {
            Reservation::Refused { retry_after, .. } => Ok(Err(retry_after)),
            // `refusal_for` only refuses.
            Reservation::Granted(_) => Ok(Err(1)),
        }
    }

    /// The reserved guess on `key` was wrong: it stays counted, and locks the key when it
    /// filled the window.
    pub async fn guess_failed(
        &self,
        store: &Store,
        key: &str,
        threshold: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        store
            .lock_logins_if_exhausted(&[(key, threshold.max(1))], now, &self.lock_secs_sql)
            .await?;
        Ok(())
    }

    /// The reserved guess on `key` was right: it is given back.
    pub async fn guess_succeeded(&self, store: &Store, key: &str) -> Result<(), StoreError> {
        store.release_login_attempts(&[key]).await
    }

    fn lock_duration(&self, previous_locks: i64) -> i64 {
        let factor = 1_i64 << previous_locks.clamp(0, 20);
        self.base_secs.saturating_mul(factor).min(self.max_secs)
    }

    /// `case lock_count when 0 then base when 1 then 2*base ... else cap end`: integers from
    /// settings only, so the lock is set in the same statement that checks the window.
    fn lock_secs_sql(&self) -> String {
        let mut sql = String::from("case lock_count");
        for previous in 0..=20 {
            let seconds = self.lock_duration(previous);
            // At least one `when`: SQL has no CASE without one.
            sql.push_str(&format!(" when {previous} then {seconds}"));
            if seconds >= self.max_secs {
                break;
            }
        }
        sql.push_str(&format!(" else {} end", self.max_secs));
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_and_stop_at_the_cap() {
        let policy = LockoutPolicy::new(&SecuritySettings::default());
        assert_eq!(policy.lock_duration(0), 60);
        assert_eq!(policy.lock_duration(1), 120);
        assert_eq!(policy.lock_duration(3), 480);
        assert_eq!(policy.lock_duration(4), 900);
        assert_eq!(policy.lock_duration(60), 900);
    }

    #[test]
    fn the_lock_length_expression_matches_the_doubling() {
        let policy = LockoutPolicy::new(&SecuritySettings::default());
        assert_eq!(
            policy.lock_secs_sql,
            "case lock_count when 0 then 60 when 1 then 120 when 2 then 240 when 3 then 480 \
             when 4 then 900 else 900 end"
        );
        let flat = LockoutPolicy::new(&SecuritySettings {
            lockout_base_secs: 1,
            lockout_max_secs: 1,
            ..SecuritySettings::default()
        });
        assert_eq!(
            flat.lock_secs_sql,
            "case lock_count when 0 then 1 else 1 end"
        );
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(address_bucket("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(
            address_bucket("2001:db8:1:2:ffff::1"),
            address_bucket("2001:db8:1:2::9")
        );
        assert_ne!(
            address_bucket("2001:db8:1:3::1"),
            address_bucket("2001:db8:1:2::1")
        );
        assert_eq!(address_bucket("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_bucket("192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn other_guess_counters_are_named_per_purpose_and_address_bucket() {
        assert_eq!(
            address_counter("device-ip", Some("2001:db8:1:2::7")),
            "device-ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            address_counter("device-ip", Some("192.0.2.1")),
            "device-ip:192.0.2.1"
        );
        assert_eq!(address_counter("device-ip", None), "device-ip:?");
    }

    #[test]
    fn usernames_are_counted_case_insensitively() {
        let (upper, lower) = (
            LoginKeys::new("Alice", Some("192.0.2.1")),
            LoginKeys::new("alice", Some("192.0.2.1")),
        );
        assert_eq!(upper.pair, lower.pair);
        assert_eq!(upper.account, lower.account);
        assert_eq!(upper.user_key(), "user:alice");
    }

    #[test]
    fn a_pair_is_one_username_at_one_address_bucket() {
        let keys = LoginKeys::new("alice", Some("2001:db8:1:2::7"));
        assert_eq!(keys.pair, "pair:alice|2001:db8:1:2::/64");
        assert_eq!(keys.ip.as_deref(), Some("ip:2001:db8:1:2::/64"));
        assert_ne!(keys.pair, LoginKeys::new("alice", Some("192.0.2.1")).pair);
    }
}
