//! The audit trail: who did what, when, from where. Never secrets, tokens or hashes.
//!
//! Events are queued and written in batches by one background task, so recording an event
//! never adds a database round trip to the request that caused it.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::clock::unix_now_ms;
use crate::metrics::METRICS;
use crate::store::{AuditRecord, Store, StoreError};

/// Events waiting to be written before `record` waits for room.
const QUEUE_CAPACITY: usize = 8_192;
/// Most events written in one transaction.
const BATCH_SIZE: usize = 500;

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

enum Message {
    Event(AuditRecord),
    Flush(oneshot::Sender<()>),
}

/// Handle for recording events; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<Message>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(store, receiver));
        Self { sender }
    }

    /// Queues an event.
    pub async fn record(&self, event: AuditEvent) {
        let record = AuditRecord {
            // Time-ordered (RFC 9562 version 7): each batch lands at the end of the primary-key
            // index, where random ids dirtied a page per event and the index outgrew the page
            // cache under client_credentials load (one event per token).
            id: uuid::Uuid::now_v7().to_string(),
            at_ms: unix_now_ms(),
            action: event.action.to_owned(),
            actor: event.actor.map(|a| truncate(a, 128)),
            subject: event.subject.map(|s| truncate(s, 128)),
            client_id: event.client_id.map(|c| truncate(c, 128)),
            ip: event.ip,
            detail: event.detail.map(|d| truncate(d, 512)),
        };
        METRICS.audit_queue_change(1);
        if self.sender.send(Message::Event(record)).await.is_err() {
            log::error!("audit writer has stopped; event {} lost", event.action);
        }
    }

    /// Waits until every event queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
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
    if let Some((index, _)) = text.char_indices().nth(max_chars) {
        text.truncate(index);
    }
    text
}

async fn write_batches(store: Store, mut receiver: mpsc::Receiver<Message>) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    let mut waiting = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(record) => batch.push(record),
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH_SIZE {
                next = receiver.try_recv().ok();
            }
        }
        let written = batch.len() as i64;
        write_batch(&store, &mut batch).await;
        METRICS.audit_queue_change(-written);
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}
