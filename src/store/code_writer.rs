//! Group commit for code redemptions: redemptions made by `/token` wait in a bounded queue, and
//! one task writes whatever is waiting in one transaction. Under load, many sign-ins share one
//! commit instead of paying one `fsync` each; alone, a write waits for nothing. A request is
//! answered only after its write is committed. SQLite runs the batch statement by statement
//! (`Store::write_code_batch`); PostgreSQL inserts it with one multi-row statement
//! (`store::code_batch_pg`), falling back to one transaction per redemption if that fails, so
//! one bad redemption cannot fail the others.

use tokio::sync::{mpsc, oneshot};

use super::authorization_codes::{CodeWrite, CodeWritten};
use super::{CodeClaim, Store, StoreError, code_batch_pg};

/// Writes waiting at most; beyond it, callers wait for room (nothing grows with load).
const QUEUE_CAPACITY: usize = 1024;
/// Writes per transaction at most.
const BATCH_SIZE: usize = 64;

struct Job {
    write: CodeWrite,
    reply: oneshot::Sender<Result<CodeWritten, StoreError>>,
}

/// Handle on the writer task; cheap to clone.
#[derive(Clone)]
pub struct CodeWriter {
    sender: mpsc::Sender<Job>,
}

fn writer_stopped() -> StoreError {
    StoreError::Other(anyhow::anyhow!("the code writer has stopped"))
}

impl CodeWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(store, receiver));
        Self { sender }
    }

    async fn submit(&self, write: CodeWrite) -> Result<CodeWritten, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
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
        match store.write_code_group(&writes).await {
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

impl Store {
    /// Runs `writes` together, grouped the way the backend groups best; for each, its result.
    /// The writer task calls it with whatever is waiting, which may hold one code twice: then
    /// one of them is redeemed and the others are refused. `Err` when nothing was written.
    pub async fn write_code_group(
        &self,
        writes: &[CodeWrite],
    ) -> Result<Vec<Result<CodeWritten, StoreError>>, StoreError> {
        let Store::Postgres(pool) = self else {
            return self.write_code_batch(writes).await;
        };
        let claims: Vec<&CodeClaim> = writes
            .iter()
            .map(|write| match write {
                CodeWrite::Claim(claim) => claim,
            })
            .collect();
        match code_batch_pg::claim_codes(pool, &claims).await {
            Ok(claimed) => Ok(claimed
                .into_iter()
                .map(|now| Ok(CodeWritten::Claimed(now)))
                .collect()),
            // A failure of one must not fail the others: each again, on its own.
            Err(error) if writes.len() > 1 => {
                log::warn!(
                    "a batch of {} code redemptions failed, retrying one by one: {error}",
                    writes.len()
                );
                let mut results = Vec::with_capacity(writes.len());
                for write in writes {
                    results.push(self.write_code(write).await);
                }
                Ok(results)
            }
            Err(error) => Err(error),
        }
    }
}
