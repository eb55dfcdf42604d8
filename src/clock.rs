//! Wall-clock time in the Unix seconds that JWT claims and the database use.

use std::time::{SystemTime, UNIX_EPOCH};

/// Largest clock difference assumed between instances sharing a database (NTP keeps real ones
/// well inside it). Tokens carry `nbf` this far before `iat`, verification accepts an `iat` this
/// far in the future, and revocation polling overlaps by more than it.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5;

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Milliseconds since the Unix epoch.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Renders Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The time the browser flows read (codes, login transactions, sessions): the wall clock plus an
/// offset that only tests move, so a 60-second code expires without a test sleeping.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_secs: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    /// Unix seconds, as this clock tells them.
    pub fn now(&self) -> i64 {
        unix_now() + self.offset_secs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves this clock (and every copy of it) forward.
    pub fn advance(&self, secs: i64) {
        self.offset_secs
            .fetch_add(secs, std::sync::atomic::Ordering::Relaxed);
    }
}
