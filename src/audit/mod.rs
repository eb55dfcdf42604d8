//! The audit trail: who did what, when, from where. Never secrets, tokens or hashes.
//!
//! Events are queued and written in batches by one background task, so recording an event
//! never adds a database round trip to the request that caused it. Events marked coalescing
//! (client_credentials issuance, one per machine token) become one row a second with a count:
//! the first of a second is queued, and the rest are counted beside the queue (`tally`) or, when
//! they cannot be, merged by the writer.

mod tally;

pub use tally::EventFields;

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::unix_now_ms;
use crate::metrics::METRICS;
use crate::store::{AuditRecord, Store, StoreError};
use tally::{Counted, Tallies};

/// Events waiting to be written before `record` waits for room.
const QUEUE_CAPACITY: usize = 8_192;
/// Most rows in one batch, so also in one statement: 9 parameters each (9,000), within SQLite's
/// 32,766 and PostgreSQL's 65,535. Coalesced events add no row, so a batch may stand for more
/// events than this.
const BATCH_SIZE: usize = 1_000;
/// Most queued messages taken per look at the queue: bounds one pass when events merge into rows
/// as fast as they come.
const TAKE_AT_MOST: usize = QUEUE_CAPACITY;
/// How long the writer gathers events before a commit. Each commit costs a WAL write and a
/// flush whatever it carries: the client_credentials profile (one event per token) spent about a
/// third of the writer's time committing batches of a few events. Events are acknowledged to no
/// one, so 20 ms later costs nothing (see docs/src/durability.md).
const LINGER: Duration = Duration::from_millis(20);
/// Longest a batch of coalescing rows waits for the rest of its second (see `Batch::may_hold`),
/// by the monotonic clock, so that a wall clock set back cannot hold them longer.
const HOLD_AT_MOST: Duration = Duration::from_millis(1_100);
/// The characters a row keeps of actor, subject, client and detail.
const STORED_CHARS: [usize; 4] = [128, 128, 128, 512];

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
    /// Whether the writer may merge this event with identical ones (see `coalescing`).
    pub coalescing: bool,
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

    /// Lets the writer store this event and identical coalescing events of the same second as one
    /// row counting them (`occurrences`), which then has the first one's id and time. Only for
    /// high-volume machine events, where a row per event is most of the cost of recording it and
    /// its time within the second tells nobody anything.
    pub fn coalescing(mut self) -> Self {
        self.coalescing = true;
        self
    }
}

/// An event as queued: stamped with its time, given its id and trimmed by the writer.
struct QueuedEvent {
    at_ms: i64,
    event: AuditEvent,
    /// The tally counting this event's repeats, when it opened one.
    tally: Option<u64>,
}

impl QueuedEvent {
    /// Cuts values to what a row holds, so that identical rows come from equal events.
    fn trimmed(mut self) -> Self {
        let event = &mut self.event;
        let values = [
            &mut event.actor,
            &mut event.subject,
            &mut event.client_id,
            &mut event.detail,
        ];
        for (value, max_chars) in values.into_iter().zip(STORED_CHARS) {
            *value = value.take().map(|v| truncate(v, max_chars));
        }
        self
    }

    /// The wall-clock second within which coalescing events merge.
    fn second(&self) -> i64 {
        self.at_ms.div_euclid(1000)
    }

    /// Whether `row` is this event's row: same fields and same second (`row` came from a
    /// trimmed event, and so has this one, so the fields compare as stored).
    fn repeats(&self, row: &AuditRecord) -> bool {
        let event = &self.event;
        row.at_ms.div_euclid(1000) == self.second()
            && row.action == event.action
            && row.actor == event.actor
            && row.subject == event.subject
            && row.client_id == event.client_id
            && row.ip == event.ip
            && row.detail == event.detail
    }

    /// The row of a trimmed event, standing for that one event.
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
            actor: event.actor,
            subject: event.subject,
            client_id: event.client_id,
            ip: event.ip,
            detail: event.detail,
            occurrences: 1,
        }
    }
}

/// The events taken for one write, as rows.
struct Batch {
    rows: Vec<AuditRecord>,
    /// How many events the rows stand for.
    events: usize,
    /// Coalescing rows by a hash of their fields and second: the index of the first such row.
    /// A hash collision only costs a row: the fields are compared before a merge.
    coalescing: HashMap<u64, usize>,
    hasher: RandomState,
    /// Rows whose repeats a tally counts: the row's index and the tally's key.
    tallies: Vec<(usize, u64)>,
    /// Whether some row stands for an event that is not coalescing.
    plain_rows: bool,
    /// When the first row came.
    since: Option<Instant>,
}

impl Batch {
    fn new() -> Self {
        Self {
            rows: Vec::with_capacity(BATCH_SIZE),
            events: 0,
            coalescing: HashMap::new(),
            hasher: RandomState::new(),
            tallies: Vec::new(),
            plain_rows: false,
            since: None,
        }
    }

    /// Adds an event: to the row of an identical coalescing event of the same second when there
    /// is one, else as a new row at the end.
    fn push(&mut self, queued: QueuedEvent) {
        self.events += 1;
        self.since.get_or_insert_with(Instant::now);
        let mut queued = queued.trimmed();
        let tally = queued.tally.take();
        let row = self.row_for(queued);
        if let Some(key) = tally {
            self.tallies.push((row, key));
        }
    }

    /// Counts the event into the row of an identical coalescing event of its second, or adds
    /// it as a new row; returns the row's index.
    fn row_for(&mut self, queued: QueuedEvent) -> usize {
        if queued.event.coalescing {
            let event = &queued.event;
            let key = self.hasher.hash_one((
                queued.second(),
                event.action,
                &event.actor,
                &event.subject,
                &event.client_id,
                &event.ip,
                &event.detail,
            ));
            match self.coalescing.entry(key) {
                Entry::Occupied(first) => {
                    let index = *first.get();
                    let row = &mut self.rows[index];
                    if queued.repeats(row) {
                        row.occurrences += 1;
                        return index;
                    }
                }
                Entry::Vacant(slot) => {
                    slot.insert(self.rows.len());
                }
            }
        } else {
            self.plain_rows = true;
        }
        self.rows.push(queued.into_record());
        self.rows.len() - 1
    }

    /// Closes the tallies of this batch's rows, adding the events they counted: called just
    /// before the rows are written, so that every repeat counted until then is in them.
    fn close_tallies(&mut self, tallies: &Tallies) {
        for (row, key) in self.tallies.drain(..) {
            let later = tallies.close(key);
            self.rows[row].occurrences += later;
            self.events += usize::try_from(later).unwrap_or(0);
        }
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= BATCH_SIZE
    }

    /// Whether the batch may wait for more events at `now_ms`: it holds only coalescing rows,
    /// none of a second that has ended, for less than `HOLD_AT_MOST`. Later events of their
    /// second then join their rows, so that one commit carries about a second of a busy
    /// client's issuances instead of `LINGER`'s worth.
    fn may_hold(&self, now_ms: i64) -> bool {
        let second = now_ms.div_euclid(1000);
        !self.plain_rows
            && !self.is_full()
            && self
                .since
                .is_some_and(|since| since.elapsed() < HOLD_AT_MOST)
            && self
                .rows
                .iter()
                .all(|row| row.at_ms.div_euclid(1000) >= second)
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.events = 0;
        self.coalescing.clear();
        self.tallies.clear();
        self.plain_rows = false;
        self.since = None;
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
    /// Repeats of coalescing events, counted beside the queue.
    tallies: Arc<Tallies>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let flush_requested = Arc::new(Notify::new());
        let tallies = Arc::new(Tallies::new());
        tokio::spawn(write_batches(
            store,
            receiver,
            flush_requested.clone(),
            tallies.clone(),
        ));
        Self {
            sender,
            flush_requested,
            tallies,
        }
    }

    /// Queues an event (a coalescing one may only be counted: see `record_coalescing`).
    pub async fn record(&self, event: AuditEvent) {
        if event.coalescing {
            return self.record_coalescing(EventFields::of(&event)).await;
        }
        self.queue(QueuedEvent {
            at_ms: unix_now_ms(),
            event,
            tally: None,
        })
        .await;
    }

    /// Records a coalescing event given by reference: a repeat within its second is only
    /// counted, and the owned event is built only when it must be queued.
    pub async fn record_coalescing(&self, fields: EventFields<'_>) {
        let at_ms = unix_now_ms();
        let tally = match self.count(at_ms, fields) {
            Counted::Joined => return,
            Counted::First(key) => Some(key),
            Counted::Alone => None,
        };
        // About once a second per client and address: boxed, so that the futures of the callers
        // (a request handler each) do not carry a queue send.
        Box::pin(self.queue(QueuedEvent {
            at_ms,
            event: fields.to_event(),
            tally,
        }))
        .await;
    }

    /// Counts a coalescing event into its second's tally; a joined one is waiting from now on.
    fn count(&self, at_ms: i64, fields: EventFields<'_>) -> Counted {
        let counted = self.tallies.count(at_ms.div_euclid(1000), fields);
        if counted == Counted::Joined {
            METRICS.audit_queue_change(1);
        }
        counted
    }

    async fn queue(&self, queued: QueuedEvent) {
        let (action, tally) = (queued.event.action, queued.tally);
        METRICS.audit_queue_change(1);
        if self.sender.send(Message::Event(queued)).await.is_err() {
            log::error!("audit writer has stopped; event {action} lost");
            if let Some(key) = tally {
                self.tallies.forget(key);
            }
            return;
        }
        if let Some(key) = tally {
            self.tallies.queued(key);
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
/// database refuses outright is retried row by row, so one bad event cannot block the rest.
async fn write_batch(store: &Store, batch: &mut Batch) {
    let mut delay = Duration::from_millis(100);
    let (rows, events) = (&batch.rows, batch.events);
    while !rows.is_empty() {
        match store.insert_audit_records(rows).await {
            Ok(()) => break,
            Err(StoreError::Unavailable(sqlx::Error::PoolClosed)) => {
                log::error!("audit trail closed; {events} events not written");
                break;
            }
            Err(StoreError::Unavailable(error)) => {
                log::warn!("audit trail unavailable ({error}); retrying {events} events");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                log::warn!(
                    "writing {events} audit events ({} rows) failed ({error}); writing them row by row",
                    rows.len()
                );
                for record in rows {
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

fn take(message: Message, batch: &mut Batch, waiting: &mut Vec<oneshot::Sender<()>>) {
    match message {
        Message::Event(queued) => batch.push(queued),
        Message::Flush(done) => waiting.push(done),
    }
}

/// Takes what waits in the queue into the batch, until it is full; `false` once the queue is
/// closed (every `AuditLog` dropped).
fn take_queued(
    receiver: &mut mpsc::Receiver<Message>,
    batch: &mut Batch,
    waiting: &mut Vec<oneshot::Sender<()>>,
) -> bool {
    for _ in 0..TAKE_AT_MOST {
        if batch.is_full() {
            break;
        }
        match receiver.try_recv() {
            Ok(message) => take(message, batch, waiting),
            Err(mpsc::error::TryRecvError::Empty) => break,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

async fn write_batches(
    store: Store,
    mut receiver: mpsc::Receiver<Message>,
    flush_requested: Arc<Notify>,
    tallies: Arc<Tallies>,
) {
    let mut batch = Batch::new();
    let mut waiting = Vec::new();
    while let Some(first) = receiver.recv().await {
        take(first, &mut batch, &mut waiting);
        loop {
            // Gather for LINGER without listening to the queue: each event would otherwise wake
            // this task from another thread, which cost the client_credentials grant (one event
            // per token) more than writing the event. A flush cuts the wait short.
            if waiting.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(LINGER) => {}
                    () = flush_requested.notified() => {}
                }
            }
            let open = take_queued(&mut receiver, &mut batch, &mut waiting);
            // Coalescing rows may wait for the rest of their second (`may_hold`).
            if !open || !waiting.is_empty() || !batch.may_hold(unix_now_ms()) {
                break;
            }
        }
        loop {
            let full = batch.is_full();
            batch.close_tallies(&tallies);
            // The gauge counts events, however many rows they became.
            let written = batch.events as i64;
            write_batch(&store, &mut batch).await;
            METRICS.audit_queue_change(-written);
            // Every flush taken so far came after the events it waits for.
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
            if !full {
                break;
            }
            take_queued(&mut receiver, &mut batch, &mut waiting);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::tally::{Counted, EventFields, Tallies};
    use super::{AuditEvent, BATCH_SIZE, Batch, HOLD_AT_MOST, QueuedEvent, truncate};

    /// A client_credentials issuance as the grant records it, at `at_ms`.
    fn issued(at_ms: i64, client: &str, ip: &str, scope: &str) -> QueuedEvent {
        QueuedEvent {
            at_ms,
            tally: None,
            event: AuditEvent::new("token.issued")
                .actor(client)
                .client(client)
                .ip(Some(ip.to_owned()))
                .detail(format!("grant=client_credentials scope={scope}"))
                .coalescing(),
        }
    }

    fn batch_of(events: impl IntoIterator<Item = QueuedEvent>) -> Batch {
        let mut batch = Batch::new();
        for event in events {
            batch.push(event);
        }
        batch
    }

    #[test]
    fn identical_coalescing_events_of_one_second_are_one_row_with_the_first_ones_id_and_time() {
        let batch = batch_of([
            issued(5_000, "svc", "10.0.0.1", "a"),
            issued(5_400, "svc", "10.0.0.1", "a"),
            issued(5_999, "svc", "10.0.0.1", "a"),
        ]);

        assert_eq!(batch.events, 3);
        assert_eq!(batch.rows.len(), 1);
        assert_eq!(batch.rows[0].occurrences, 3);
        assert_eq!(batch.rows[0].at_ms, 5_000);
        assert!(!batch.rows[0].id.is_empty());
    }

    #[test]
    fn another_second_address_scope_or_client_is_another_row() {
        let batch = batch_of([
            issued(5_999, "svc", "10.0.0.1", "a"),
            issued(6_000, "svc", "10.0.0.1", "a"),
            issued(6_001, "svc", "10.0.0.2", "a"),
            issued(6_002, "svc", "10.0.0.1", "a b"),
            issued(6_003, "other", "10.0.0.1", "a"),
        ]);

        assert_eq!(batch.events, 5);
        assert_eq!(batch.rows.len(), 5);
        assert!(batch.rows.iter().all(|r| r.occurrences == 1));
    }

    #[test]
    fn events_not_marked_coalescing_are_never_merged() {
        let login = |at_ms| QueuedEvent {
            at_ms,
            tally: None,
            event: AuditEvent::new("login.failed")
                .actor("alice")
                .ip(Some("10.0.0.1".to_owned())),
        };
        let unmarked = |at_ms| {
            let mut event = issued(at_ms, "svc", "10.0.0.1", "a");
            event.event.coalescing = false;
            event
        };

        // A coalescing event merges neither into an identical unmarked one nor takes one in.
        let batch = batch_of([
            unmarked(5_000),
            login(5_001),
            login(5_002),
            issued(5_003, "svc", "10.0.0.1", "a"),
            unmarked(5_004),
        ]);

        assert_eq!(batch.events, 5);
        assert_eq!(batch.rows.len(), 5);
        assert!(batch.rows.iter().all(|r| r.occurrences == 1));
    }

    #[test]
    fn rows_keep_the_order_of_their_first_events() {
        let batch = batch_of([
            issued(7_000, "one", "10.0.0.1", "a"),
            issued(7_010, "two", "10.0.0.1", "a"),
            issued(7_020, "one", "10.0.0.1", "a"),
            issued(7_030, "three", "10.0.0.1", "a"),
            issued(7_040, "two", "10.0.0.1", "a"),
            issued(7_050, "one", "10.0.0.1", "a"),
        ]);

        let found: Vec<(i64, &str, i64)> = batch
            .rows
            .iter()
            .map(|r| (r.at_ms, r.actor.as_deref().unwrap(), r.occurrences))
            .collect();
        assert_eq!(
            found,
            [(7_000, "one", 3), (7_010, "two", 2), (7_030, "three", 1)]
        );
        let ids: Vec<&str> = batch.rows.iter().map(|r| r.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "ids are time-ordered in row order");
    }

    #[test]
    fn a_row_that_opened_a_tally_takes_its_count_when_written_and_the_tally_closes() {
        let tallies = Tallies::new();
        let event = issued(5_000, "svc", "10.0.0.1", "a").event;
        let fields = EventFields::of(&event);
        let Counted::First(key) = tallies.count(5, fields) else {
            panic!("expected a new tally");
        };
        tallies.queued(key);
        assert_eq!(tallies.count(5, fields), Counted::Joined);
        assert_eq!(tallies.count(5, fields), Counted::Joined);
        let mut batch = batch_of([QueuedEvent {
            at_ms: 5_000,
            event: fields.to_event(),
            tally: Some(key),
        }]);
        // Queued repeats of the same second still merge into the row as before.
        batch.push(issued(5_500, "svc", "10.0.0.1", "a"));

        batch.close_tallies(&tallies);

        assert_eq!(batch.rows.len(), 1);
        assert_eq!(batch.rows[0].occurrences, 4);
        assert_eq!(batch.events, 4);
        assert!(matches!(tallies.count(5, fields), Counted::First(_)));
    }

    #[test]
    fn a_cleared_batch_merges_nothing_into_rows_already_written() {
        let mut batch = batch_of([issued(5_000, "svc", "10.0.0.1", "a")]);
        batch.clear();

        batch.push(issued(5_001, "svc", "10.0.0.1", "a"));

        assert_eq!(batch.events, 1);
        assert_eq!(batch.rows.len(), 1);
        assert_eq!(batch.rows[0].occurrences, 1);
        assert_eq!(batch.rows[0].at_ms, 5_001);
    }

    #[test]
    fn values_beyond_the_stored_length_merge_as_the_stored_rows_would_read() {
        let long = |at_ms, tail: &str| {
            issued(
                at_ms,
                &format!("{}{tail}", "c".repeat(128)),
                "10.0.0.1",
                "a",
            )
        };

        let batch = batch_of([long(5_000, "x"), long(5_001, "y")]);

        assert_eq!(batch.rows.len(), 1);
        assert_eq!(batch.rows[0].occurrences, 2);
        assert_eq!(
            batch.rows[0].actor.as_deref(),
            Some("c".repeat(128).as_str())
        );
    }

    #[test]
    fn coalescing_rows_wait_for_the_rest_of_their_second_and_no_longer() {
        let batch = batch_of([
            issued(5_000, "svc", "10.0.0.1", "a"),
            issued(5_400, "other", "10.0.0.1", "a"),
        ]);

        assert!(batch.may_hold(5_400));
        assert!(batch.may_hold(5_999));
        // The second has ended: a later event could no longer join these rows.
        assert!(!batch.may_hold(6_000));
    }

    #[test]
    fn a_batch_with_an_event_that_is_not_coalescing_is_written_at_once() {
        let mut batch = batch_of([issued(5_000, "svc", "10.0.0.1", "a")]);
        let mut login = issued(5_001, "svc", "10.0.0.1", "a");
        login.event.coalescing = false;
        batch.push(login);

        assert!(!batch.may_hold(5_002));
        batch.clear();
        batch.push(issued(5_003, "svc", "10.0.0.1", "a"));
        assert!(
            batch.may_hold(5_004),
            "a cleared batch forgets its plain rows"
        );
    }

    #[test]
    fn held_rows_go_after_hold_at_most_even_if_the_wall_clock_went_back() {
        let mut batch = batch_of([issued(5_000, "svc", "10.0.0.1", "a")]);
        batch.since = Instant::now().checked_sub(HOLD_AT_MOST);

        // The wall clock says the second has not even begun; the monotonic clock decides.
        assert!(!batch.may_hold(1_000));
    }

    #[test]
    fn a_full_batch_is_never_held() {
        let batch = batch_of((0..BATCH_SIZE).map(|n| {
            let client = format!("svc-{n}");
            issued(5_000, &client, "10.0.0.1", "a")
        }));

        assert!(batch.is_full());
        assert!(!batch.may_hold(5_001));
    }

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
