//! SQLite lets one connection write at a time. Left to collide, a writer that finds the lock
//! taken sleeps in SQLite's busy handler for 1, 2, 5, 10, 15, 20 ms and so on, however soon the
//! lock frees: 32 connections rotating refresh tokens saw p99 latencies of 190-290 ms that way.
//! So this process's writes to one database file take turns here first, in order, and each
//! begins when the one before it has committed (`BeginWrite::begin_write` for transactions,
//! `with_write!` for single statements). Another process (the CLI) still meets SQLite's busy
//! timeout. PostgreSQL needs no turns.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a writer waits for another process's write lock (SQLite's busy timeout), and as
/// long for its turn here: then it goes ahead and lets SQLite decide, as it did before turns, so
/// that no mistake here can hang a request.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One queue per database file. An entry lives while a write holds or awaits its turn, so
/// the map holds only the files being written to (one, outside tests).
static TURNS: LazyLock<Mutex<HashMap<PathBuf, Weak<Semaphore>>>> = LazyLock::new(Default::default);

/// Waits for the turn to write to the SQLite database at `file`; it ends when the permit drops.
/// `None` after `BUSY_TIMEOUT`.
pub async fn wait_for_turn(file: &Path) -> Option<OwnedSemaphorePermit> {
    let queue = {
        let mut turns = TURNS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match turns.get(file).and_then(Weak::upgrade) {
            Some(queue) => queue,
            None => {
                turns.retain(|_, queue| queue.strong_count() > 0);
                let queue = Arc::new(Semaphore::new(1));
                turns.insert(file.to_owned(), Arc::downgrade(&queue));
                queue
            }
        }
    };
    // A queue is never closed, so acquiring fails only by timing out.
    tokio::time::timeout(BUSY_TIMEOUT, queue.acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
}

/// Whether the map still has an entry for `file`, for the tests.
#[cfg(test)]
fn has_entry(file: &Path) -> bool {
    let turns = TURNS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    turns.contains_key(file)
}

/// A write transaction holding its turn (SQLite) until it commits or is dropped.
pub struct WriteTransaction<DB: sqlx::Database> {
    transaction: sqlx::Transaction<'static, DB>,
    _turn: Option<OwnedSemaphorePermit>,
}

impl<DB: sqlx::Database> WriteTransaction<DB> {
    pub fn new(
        transaction: sqlx::Transaction<'static, DB>,
        turn: Option<OwnedSemaphorePermit>,
    ) -> Self {
        Self {
            transaction,
            _turn: turn,
        }
    }

    /// Commits, then gives the turn to the next writer.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.transaction.commit().await
    }
}

impl<DB: sqlx::Database> Deref for WriteTransaction<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.transaction
    }
}

impl<DB: sqlx::Database> DerefMut for WriteTransaction<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.transaction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writers_to_one_file_take_turns_in_order() {
        let file = Path::new("/turns-test/one.db");
        let first = wait_for_turn(file).await.expect("a free turn");
        let (order, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for n in 0..3 {
            let order = order.clone();
            waiters.push(tokio::spawn(async move {
                let turn = wait_for_turn(file).await.expect("a turn");
                order.send(n).unwrap();
                drop(turn);
            }));
            // Each waiter joins the queue before the next one starts.
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        assert!(
            heard.try_recv().is_err(),
            "a writer went while the first held its turn"
        );
        drop(first);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        let heard: Vec<i32> = std::iter::from_fn(|| heard.try_recv().ok()).collect();
        assert_eq!(heard, [0, 1, 2]);
    }

    #[tokio::test]
    async fn another_file_does_not_wait_and_idle_files_are_forgotten() {
        let one = wait_for_turn(Path::new("/turns-test/a.db"))
            .await
            .expect("a turn");
        let other = wait_for_turn(Path::new("/turns-test/b.db")).await;
        assert!(other.is_some(), "a writer to another file waited");
        drop((one, other));
        // The next new file's queue sweeps the entries no transaction holds or awaits.
        let _next = wait_for_turn(Path::new("/turns-test/c.db")).await;
        assert!(!has_entry(Path::new("/turns-test/a.db")));
        assert!(!has_entry(Path::new("/turns-test/b.db")));
    }
}
