//! Keeps tables bounded: deletes expired refresh tokens, revoked token ids past expiry, quiet
//! failed-login counters and audit events past retention. Every instance may run it; the
//! deletions are idempotent.

use std::time::Duration;

use crate::clock::{unix_now, unix_now_ms};
use crate::config::Settings;
use crate::metrics::METRICS;
use crate::store::Store;

/// Sweeps every `janitor.interval_secs` until the process ends.
pub fn spawn_janitor(store: Store, settings: &Settings) {
    let interval = Duration::from_secs(settings.janitor.interval_secs.max(1));
    // Counters and sign-in addresses are kept for the longest window that reads them.
    let window = settings
        .security
        .lockout_window_secs
        .max(settings.security.account_guess_window_secs) as i64;
    let retention_ms = settings.janitor.audit_retention_days as i64 * 86_400_000;
    let session_idle_secs = settings.sessions.idle_secs as i64;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match store
                .sweep(
                    unix_now(),
                    window,
                    unix_now_ms() - retention_ms,
                    session_idle_secs,
                )
                .await
            {
                Ok(swept) => {
                    log::debug!("janitor swept {swept:?}");
                    METRICS.swept(swept);
                }
                Err(error) => log::warn!("janitor sweep failed: {error}"),
            }
        }
    });
}
