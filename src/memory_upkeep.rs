//! Gives back memory that would otherwise stay with the process until the next request of the
//! same kind: the DPoP replay generations past their window, and the heap pages glibc holds
//! free after a burst. Without it, each kind of burst left its peak behind and the next kind
//! stacked on it (BENCHMARKS.md, issue 16's 100 MiB bound).

use std::time::Duration;

use actix_web::web;

use crate::allocator::return_free_memory;
use crate::clock::unix_now;
use crate::dpop::Dpop;

/// The workers build their apps in this time after start, and load.sh reads idle memory a
/// second after the first answer.
const AFTER_START: Duration = Duration::from_millis(250);

/// Often enough that a burst's memory is gone seconds after it, rare enough that re-faulting
/// pages a busy process is about to reuse costs nothing measurable (one trim takes well under a
/// millisecond for authd's two arenas).
const EVERY: Duration = Duration::from_secs(5);

/// Runs until the process ends.
pub fn spawn(dpop: web::Data<Dpop>) {
    tokio::spawn(async move {
        tokio::time::sleep(AFTER_START).await;
        let mut ticker = tokio::time::interval(EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            dpop.forget_expired_proofs(unix_now());
            return_free_memory();
        }
    });
}
