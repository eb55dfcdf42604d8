//! Group commit for code redemptions on SQLite: redemptions made by `/token` wait in a bounded
//! queue, and one task writes whatever is waiting in one transaction. Under load, many sign-ins
//! share one commit instead of paying one `fsync` each (SQLite's limit on single sign-on);
//! alone, a write waits for nothing. A request is answered only after its write is committed. On PostgreSQL, whose connections write in parallel and whose commits
//! already group, each write goes straight to the store.

use tokio::sync::{mpsc, oneshot};

use super::authorization_codes::{CodeWrite, CodeWritten};
use super::{CodeClaim, Store, StoreError};

/// Writes waiting at most; beyond it, callers wait for room (nothing grows with load).
const QUEUE_CAPACITY: usize = 1024;
/// Writes per transaction at most.
const BATCH_SIZE: usize = 64;

struct Job {
    write: CodeWrite,
    reply: oneshot::Sender<Result<CodeWritten, StoreError>>,
}

/// Handle on the writer task (SQLite), or on the store itself (PostgreSQL); cheap to clone.
#[derive(Clone)]
pub struct CodeWriter {
    sender: Option<mpsc::Sender<Job>>,
    store: Store,
}

fn writer_stopped() -> StoreError {
    StoreError::Other(anyhow::anyhow!("the code writer has stopped"))
}

impl CodeWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let sender = matches!(store, Store::Sqlite(_)).then(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
            tokio::spawn(write_batches(store.clone(), receiver));
            sender
        });
        Self { sender, store }
    }

    async fn submit(&self, write: CodeWrite) -> Result<CodeWritten, StoreError> {
        let Some(sender) = &self.sender else {
            return self.store.write_code(&write).await;
        };
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job { write, reply })
            .await
            .map_err(|_| writer_stopped())?;
        answer.await.map_err(|_| writer_stopped())?
    }

    /// Redeems a code if it was not redeemed before and its user and session still stand;
    /// `false` when not.
    pub async fn claim(&self, claim: CodeClaim) -> Result<bool, StoreError> {
        match self.submit(CodeWrite::Claim(claim)).await? {
            CodeWritten::Claimed(claimed) => Ok(claimed),
        }
    }
}

async fn write_batches(store: Store, mut receiver: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(BATCH_SIZE);
    while receiver.recv_many(&mut jobs, BATCH_SIZE).await > 0 {
        let (writes, replies): (Vec<_>, Vec<_>) =
            jobs.drain(..).map(|job| (job.write, job.reply)).unzip();
        match store.write_code_batch(&writes).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                // The transaction failed as a whole: nothing was written, every caller hears so.
                let unavailable = matches!(error, StoreError::Unavailable(_));
                log::warn!("writing {} code writes failed: {error}", replies.len());
                for reply in replies {
                    let _ = reply.send(Err(if unavailable {
                        StoreError::Unavailable(sqlx::Error::PoolTimedOut)
                    } else {
                        StoreError::Other(anyhow::anyhow!("code write failed"))
                    }));
                }
            }
        }
    }
}
