//! A fixed set of low-priority threads for password hashing.
//!
//! argon2 is deliberately slow; on a saturated login endpoint it would take every core. These
//! threads run at a lower scheduling priority (nice 10), so introspection and token requests on
//! the async workers preempt them and stay fast, while hashing still gets all idle CPU. Their
//! number bounds how many hashes (and their working memory) exist at once.

use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Why hashing work was not done.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The queue is full, or this caller's address has its share in flight: try again shortly.
    #[error("too many passwords are being checked; try again shortly")]
    Busy,
    /// The caller's connection closed while the work waited; it was dropped unrun.
    #[error("the client went away before its password was checked")]
    ClientGone,
    /// The work could not run.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Tells whether the client that asked for some work still waits for its answer.
pub type StillWaiting = Box<dyn Fn() -> bool + Send>;

/// Sends hashing work to the pool's threads through a bounded queue.
#[derive(Clone)]
pub struct HashPool {
    sender: mpsc::SyncSender<Job>,
}

impl HashPool {
    /// Starts `threads` hashing threads behind a queue of `capacity` waiting jobs; they end when
    /// the last handle is dropped.
    pub fn start(threads: usize, capacity: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel::<Job>(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("authd-hash-{index}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        let job = receiver.lock().expect("hash queue poisoned").recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                })?;
        }
        Ok(Self { sender })
    }

    /// Runs `work` on a hashing thread and waits for its result. A full queue answers `Busy` at
    /// once; work whose caller is gone by the time a thread takes it is skipped.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
        still_waiting: Option<StillWaiting>,
    ) -> Result<T, HashError> {
        let (reply, result) = oneshot::channel();
        let job = Box::new(move || {
            // The handler was dropped, or its client hung up: nobody would read the answer.
            let gone = reply.is_closed() || still_waiting.as_ref().is_some_and(|alive| !alive());
            if gone {
                let _ = reply.send(Err(HashError::ClientGone));
            } else {
                let _ = reply.send(Ok(work()));
            }
        });
        match self.sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(anyhow::anyhow!("password hashing threads have stopped").into());
            }
        }
        result
            .await
            .map_err(|_| anyhow::anyhow!("password hashing task failed"))?
    }
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // On Linux, PRIO_PROCESS with a thread id sets that thread's nice value only.
    // SAFETY: plain system calls on the calling thread; failure is harmless (priority unchanged).
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, 10) != 0 {
            log::debug!("could not lower the priority of a hashing thread");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_pool_and_returns_its_result() {
        let pool = HashPool::start(2, 4).unwrap();
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned), None)
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("authd-hash-"));
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let pool = HashPool::start(1, 1).unwrap();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        // One job occupies the thread, one fills the queue; the third finds no room.
        let running = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move || blocked.recv().ok(), None).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let queued = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| (), None).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(matches!(pool.run(|| (), None).await, Err(HashError::Busy)));
        release.send(()).unwrap();
        assert!(running.await.unwrap().is_ok());
        assert!(queued.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn work_of_a_client_that_went_away_is_skipped() {
        let pool = HashPool::start(1, 4).unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let outcome = pool
            .run(
                move || flag.store(true, std::sync::atomic::Ordering::SeqCst),
                Some(Box::new(|| false)),
            )
            .await;
        assert!(matches!(outcome, Err(HashError::ClientGone)));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
