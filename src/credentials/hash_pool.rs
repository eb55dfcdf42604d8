//! A fixed set of low-priority threads for password hashing.
//!
//! argon2 is deliberately slow; on a saturated login endpoint it would take every core. These
//! threads run at a lower scheduling priority (nice 10), so introspection and token requests on
//! the async workers preempt them and stay fast, while hashing still gets all idle CPU. Their
//! number bounds how many hashes (and their working memory) exist at once.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Sends hashing work to the pool's threads.
#[derive(Clone)]
pub struct HashPool {
    sender: mpsc::Sender<Job>,
}

impl HashPool {
    /// Starts `threads` hashing threads; they end when the last handle is dropped.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel::<Job>();
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

    /// Runs `work` on a hashing thread and waits for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, result) = oneshot::channel();
        self.sender
            .send(Box::new(move || {
                let _ = reply.send(work());
            }))
            .map_err(|_| anyhow::anyhow!("password hashing threads have stopped"))?;
        result
            .await
            .map_err(|_| anyhow::anyhow!("password hashing task failed"))
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
        let pool = HashPool::start(2).unwrap();
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("authd-hash-"));
    }
}
