//! Brute-force defence: login attempts are counted per username and per client address in the
//! database, so the limits hold across instances.
//!
//! An attempt is reserved before its password is hashed, in the same statement that checks the
//! limit: however many arrive at once, no more than the threshold are ever evaluated in a window.
//! A success gives its reservation back (and clears the username's counter); a failure keeps it,
//! and the failure that finds the window full sets the lock.
//!
//! Trade-off: a lock is temporary and grows (base, 2x, 4x, … up to a cap) with each repeat, so
//! an attacker cannot lock a user out forever by design, only for the cap at a time while they
//! keep failing; a legitimate user waits at most the cap. Unknown usernames lock exactly like
//! real ones, so a lock reveals nothing about which usernames exist.

use std::net::IpAddr;

use crate::config::SecuritySettings;
use crate::store::{Store, StoreError};

/// The counters one login attempt touches.
#[derive(Debug, Clone)]
pub struct LoginKeys {
    username: String,
    ip: Option<String>,
}

impl LoginKeys {
    /// Keys for a login by `username` (as typed, normalised if possible) from `ip`.
    pub fn new(username: &str, ip: Option<&str>) -> Self {
        // PostgreSQL text cannot hold NUL; such a username cannot exist, so a stand-in will do.
        let username = username.to_lowercase().replace('\0', "\u{fffd}");
        Self {
            username: format!("user:{username}"),
            ip: ip.map(|ip| format!("ip:{}", address_bucket(ip))),
        }
    }
}

/// The unit an address is throttled by: an IPv4 address, or an IPv6 /64 (one subscriber usually
/// holds a whole /64, so counting single IPv6 addresses would give them 2^64 budgets).
pub fn address_bucket(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// An attempt the limits let through; hand it back through `failed` or `succeeded`.
#[derive(Debug)]
#[must_use = "a reserved attempt must end as a failure or a success"]
pub struct LoginAttempt {
    keys: LoginKeys,
}

/// Whether an attempt may be evaluated.
#[derive(Debug)]
pub enum Reservation {
    /// Go ahead and check the password.
    Granted(LoginAttempt),
    /// Locked or at the limit: refuse without hashing.
    Refused {
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
            lock_secs_sql: String::new(),
        };
        policy.lock_secs_sql = policy.lock_secs_sql();
        policy
    }

    /// Reserves an attempt against the address's and the username's limits.
    pub async fn reserve(
        &self,
        store: &Store,
        keys: &LoginKeys,
        now: i64,
    ) -> Result<Reservation, StoreError> {
        let window_start = now - self.window_secs;
        let mut counters = Vec::with_capacity(2);
        if let Some(ip) = &keys.ip {
            counters.push((ip.as_str(), self.ip_threshold));
        }
        counters.push((keys.username.as_str(), self.user_threshold));
        for (index, (key, threshold)) in counters.iter().enumerate() {
            if !store
                .reserve_login_attempt(key, *threshold, now, window_start)
                .await?
            {
                for (reserved, _) in &counters[..index] {
                    store.release_login_attempt(reserved).await?;
                }
                // Locked, or the window is full of attempts still being checked (those end
                // within a hash's time, in a lock or with room again).
                let retry_after = store.login_locked_for(key, now).await?.max(1);
                return Ok(Reservation::Refused { retry_after });
            }
        }
        Ok(Reservation::Granted(LoginAttempt { keys: keys.clone() }))
    }

    /// The attempt failed: it stays counted, and locks whichever counter it filled. Returns the
    /// lock it set, in seconds, if any.
    pub async fn failed(
        &self,
        store: &Store,
        attempt: LoginAttempt,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut locked = None;
        let mut counters = vec![(attempt.keys.username.as_str(), self.user_threshold)];
        if let Some(ip) = &attempt.keys.ip {
            counters.push((ip.as_str(), self.ip_threshold));
        }
        for (key, threshold) in counters {
            if let Some(seconds) = store
                .lock_login_if_exhausted(key, threshold, now, &self.lock_secs_sql)
                .await?
            {
                locked = Some(locked.unwrap_or(0).max(seconds));
            }
        }
        Ok(locked)
    }

    /// The attempt succeeded: the username's counter (and any lock a concurrent burst set on
    /// it) is cleared, and the address gets its reservation back.
    pub async fn succeeded(&self, store: &Store, attempt: LoginAttempt) -> Result<(), StoreError> {
        store.clear_login_failures(&attempt.keys.username).await?;
        self.release(store, attempt.keys.ip.as_deref()).await
    }

    /// The attempt was not evaluated after all (hashing was busy): nothing is counted.
    pub async fn abandoned(&self, store: &Store, attempt: LoginAttempt) -> Result<(), StoreError> {
        store.release_login_attempt(&attempt.keys.username).await?;
        self.release(store, attempt.keys.ip.as_deref()).await
    }

    async fn release(&self, store: &Store, ip_key: Option<&str>) -> Result<(), StoreError> {
        match ip_key {
            Some(key) => store.release_login_attempt(key).await,
            None => Ok(()),
        }
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
    fn usernames_are_counted_case_insensitively() {
        assert_eq!(
            LoginKeys::new("Alice", None).username,
            LoginKeys::new("alice", None).username
        );
    }
}
