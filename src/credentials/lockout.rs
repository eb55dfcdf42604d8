//! Brute-force defence: failed logins are counted per username and per client address in the
//! database, so the limits hold across instances.
//!
//! Trade-off: a lock is temporary and grows (base, 2x, 4x, … up to a cap) with each repeat, so
//! an attacker cannot lock a user out forever by design, only for the cap at a time while they
//! keep failing; a legitimate user waits at most the cap. Unknown usernames lock exactly like
//! real ones, so a lock reveals nothing about which usernames exist.

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
            ip: ip.map(|ip| format!("ip:{ip}")),
        }
    }
}

/// What the counters say before a login is tried.
#[derive(Debug, Clone, Copy)]
pub struct LoginGate {
    /// Seconds until a login may be tried again, if it is locked now.
    pub retry_after: Option<i64>,
    /// Whether the username has a counter (a success must then clear it).
    pub username_has_failures: bool,
}

/// Lock and throttle policy from settings.
#[derive(Debug, Clone)]
pub struct LockoutPolicy {
    user_threshold: i64,
    ip_threshold: i64,
    window_secs: i64,
    base_secs: i64,
    max_secs: i64,
}

impl LockoutPolicy {
    /// The policy `settings` describe.
    pub fn new(settings: &SecuritySettings) -> Self {
        Self {
            user_threshold: settings.lockout_threshold.max(1) as i64,
            ip_threshold: settings.ip_lockout_threshold.max(1) as i64,
            window_secs: settings.lockout_window_secs as i64,
            base_secs: settings.lockout_base_secs.max(1) as i64,
            max_secs: settings.lockout_max_secs.max(1) as i64,
        }
    }

    /// Whether a login for `keys` is locked now, in one query.
    pub async fn check(
        &self,
        store: &Store,
        keys: &LoginKeys,
        now: i64,
    ) -> Result<LoginGate, StoreError> {
        let counters = store
            .login_counters(&keys.username, keys.ip.as_deref())
            .await?;
        let until = counters.iter().map(|(_, until)| *until).max().unwrap_or(0);
        Ok(LoginGate {
            retry_after: (until > now).then_some(until - now),
            username_has_failures: counters.iter().any(|(key, _)| *key == keys.username),
        })
    }

    /// Counts a failure; returns the lock it triggered, in seconds, if any.
    pub async fn record_failure(
        &self,
        store: &Store,
        keys: &LoginKeys,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut locked = None;
        let mut counters = vec![(keys.username.as_str(), self.user_threshold)];
        if let Some(ip) = &keys.ip {
            counters.push((ip.as_str(), self.ip_threshold));
        }
        for (key, threshold) in counters {
            let count = store
                .add_login_failure(key, now, now - self.window_secs)
                .await?;
            if count.failures >= threshold {
                let duration = self.lock_duration(count.lock_count);
                store.lock_login(key, now + duration, now).await?;
                locked = Some(locked.unwrap_or(0).max(duration));
            }
        }
        Ok(locked)
    }

    /// A successful login forgets the username's failures (the address keeps its count); with
    /// none recorded there is nothing to write.
    pub async fn record_success(
        &self,
        store: &Store,
        keys: &LoginKeys,
        gate: &LoginGate,
    ) -> Result<(), StoreError> {
        if !gate.username_has_failures {
            return Ok(());
        }
        store.clear_login_failures(&keys.username).await
    }

    fn lock_duration(&self, previous_locks: i64) -> i64 {
        let factor = 1_i64 << previous_locks.clamp(0, 20);
        self.base_secs.saturating_mul(factor).min(self.max_secs)
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
    fn usernames_are_counted_case_insensitively() {
        assert_eq!(
            LoginKeys::new("Alice", None).username,
            LoginKeys::new("alice", None).username
        );
    }
}
