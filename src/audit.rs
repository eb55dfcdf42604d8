//! The audit trail: who did what, when, from where. Never secrets, tokens or hashes.
//!
//! Events are queued and written in batches by one background task, so recording an event
//! never adds a database round trip to the request that caused it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::unix_now_ms;
use crate::metrics::METRICS;
use crate::store::{AuditRecord, Store, StoreError};

/// Events waiting to be written before `record` waits for room.
const QUEUE_CAPACITY: usize = 8_192;
/// Most events written in one statement: 9 parameters each, within SQLite's 32,766 and
/// PostgreSQL's 65,535, and more than a LINGER's worth at 30,000 tokens/s.
const BATCH_SIZE: usize = 1_000;
/// How long the writer gathers events before a commit. Each commit costs a WAL write and a
/// flush whatever it carries: the client_credentials profile (one event per token) spent about a
/// third of the writer's time committing batches of a few events. Events are acknowledged to no
/// one, so 20 ms later costs nothing (see docs/src/durability.md).
const LINGER: Duration = Duration::from_millis(20);

/// One event, as a request handler describes it.
#[derive(Debug, Default, Clone)]
pub struct AuditEvent {
    /// Dotted verb, e.g. `login.failed`.
    pub action: &'static str,
    /// Who did it.
    pub actor: Option<String>,
    /// What it was done to.
    pub subject: Option<String>,
    /// Through which client.
    pub client_id: Option<String>,
    /// From which address.
    pub ip: Option<String>,
    /// Short detail; never a secret.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event with just an action.
    pub fn new(action: &'static str) -> Self {
        Self {
            action,
            ..Self::default()
        }
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the subject.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the client.
    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the address.
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// An event as queued: stamped with its time, given its id and trimmed by the writer.
struct QueuedEvent {
    at_ms: i64,
    event: AuditEvent,
}

impl QueuedEvent {
    fn into_record(self) -> AuditRecord {
        let event = self.event;
        AuditRecord {
            // Time-ordered (RFC 9562 version 7): each batch lands at the end of the primary-key
            // index, where random ids dirtied a page per event and the index outgrew the page
            // cache under client_credentials load (one event per token). Made here, on the one
            // writer task, because `now_v7` takes a process-wide lock that request workers
            // contended for.
            id: uuid::Uuid::now_v7().to_string(),
            at_ms: self.at_ms,
            action: event.action.to_owned(),
            actor: event.actor.map(|a| truncate(a, 128)),
            subject: event.subject.map(|s| truncate(s, 128)),
            client_id: event.client_id.map(|c| truncate(c, 128)),
            ip: event.ip,
            detail: event.detail.map(|d| truncate(d, 512)),
            occurrences: 1,
        }
    }
}

enum Message {
    Event(QueuedEvent),
    Flush(oneshot::Sender<()>),
}

/// Handle for recording events; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<Message>,
    /// Cuts the writer's gathering short when someone waits in `flush`.
    flush_requested: Arc<Notify>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let flush_requested = Arc::new(Notify::new());
        tokio::spawn(write_batches(store, receiver, flush_requested.clone()));
        Self {
            sender,
            flush_requested,
        }
    }

    /// Queues an event.
    pub async fn record(&self, event: AuditEvent) {
        let action = event.action;
        let queued = QueuedEvent {
            at_ms: unix_now_ms(),
            event,
        };
        METRICS.audit_queue_change(1);
        if self.sender.send(Message::Event(queued)).await.is_err() {
            log::error!("audit writer has stopped; event {action} lost");
        }
    }

    /// Waits until every event queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            self.flush_requested.notify_one();
            let _ = wait.await;
        }
    }
}

/// Writes a batch, waiting out database outages (nothing is lost to an outage). A batch the
/// database refuses outright is retried event by event, so one bad event cannot block the rest.
async fn write_batch(store: &Store, batch: &mut Vec<AuditRecord>) {
    let mut delay = Duration::from_millis(100);
    while !batch.is_empty() {
        match store.insert_audit_records(batch).await {
            Ok(()) => break,
            Err(StoreError::Unavailable(sqlx::Error::PoolClosed)) => {
                log::error!("audit trail closed; {} events not written", batch.len());
                break;
            }
            Err(StoreError::Unavailable(error)) => {
                log::warn!(
                    "audit trail unavailable ({error}); retrying {} events",
                    batch.len()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                log::warn!(
                    "writing {} audit events failed ({error}); writing them one by one",
                    batch.len()
                );
                for record in batch.iter() {
                    let single = std::slice::from_ref(record);
                    if let Err(error) = store.insert_audit_records(single).await {
                        log::error!(
                            "audit event {} ({}) refused: {error}",
                            record.id,
                            record.action
                        );
                    }
                }
                break;
            }
        }
    }
    batch.clear();
}

fn truncate(mut text: String, max_chars: usize) -> String {
    // PostgreSQL text cannot hold NUL, and one event the database refuses would hold up the rest.
    if text.contains('\0') {
        text = text.replace('\0', "\u{fffd}");
    }
    // Fewer bytes than the limit means fewer characters: most values need no walk.
    if text.len() > max_chars
        && let Some((index, _)) = text.char_indices().nth(max_chars)
    {
        text.truncate(index);
    }
    text
}

fn take(message: Message, batch: &mut Vec<AuditRecord>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match message {
        Message::Event(queued) => batch.push(queued.into_record()),
        Message::Flush(done) => waiting.push(done),
    }
}

async fn write_batches(
    store: Store,
    mut receiver: mpsc::Receiver<Message>,
    flush_requested: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    let mut waiting = Vec::new();
    while let Some(first) = receiver.recv().await {
        take(first, &mut batch, &mut waiting);
        // Gather for LINGER without listening to the queue: each event would otherwise wake
        // this task from another thread, which cost the client_credentials grant (one event
        // per token) more than writing the event. A flush cuts the wait short.
        if waiting.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = flush_requested.notified() => {}
            }
        }
        loop {
            while batch.len() < BATCH_SIZE {
                let Ok(message) = receiver.try_recv() else {
                    break;
                };
                take(message, &mut batch, &mut waiting);
            }
            let full = batch.len() >= BATCH_SIZE;
            let written = batch.len() as i64;
            write_batch(&store, &mut batch).await;
            METRICS.audit_queue_change(-written);
            // Every flush taken so far came after the events it waits for.
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
            if !full {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn values_are_cut_at_a_character_count_and_lose_their_nuls() {
        assert_eq!(truncate("a".repeat(128), 128), "a".repeat(128));
        assert_eq!(truncate("a".repeat(129), 128), "a".repeat(128));
        // 200 two-byte characters: 400 bytes, cut to 128 characters, not 128 bytes.
        assert_eq!(truncate("é".repeat(200), 128), "é".repeat(128));
        assert_eq!(truncate("é".repeat(100), 128), "é".repeat(100));
        assert_eq!(truncate("a\0b".to_owned(), 128), "a\u{fffd}b");
    }
}
