//! Audit events.

use sqlx::{FromRow, PgPool, SqlitePool};

use super::{BeginWrite, Page, PageRequest, Store, StoreError, with_pool};

/// An audit event as stored.
#[derive(Debug, Clone, FromRow)]
pub struct AuditRecord {
    /// Unique id.
    pub id: String,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Dotted verb.
    pub action: String,
    /// Who.
    pub actor: Option<String>,
    /// To what.
    pub subject: Option<String>,
    /// Through which client.
    pub client_id: Option<String>,
    /// From where.
    pub ip: Option<String>,
    /// Detail.
    pub detail: Option<String>,
    /// How many identical events this row stands for (1 unless coalesced).
    pub occurrences: i64,
}

impl Store {
    /// Writes a batch of events with one statement.
    pub async fn insert_audit_records(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        match self {
            Store::Postgres(pool) => insert_as_arrays(pool, records).await?,
            Store::Sqlite(pool) => insert_as_rows(pool, records).await?,
        }
        Ok(())
    }

    /// Newest events first, optionally of one action.
    pub async fn list_audit_records(
        &self,
        action: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let items: Vec<AuditRecord> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select id, at_ms, action, actor, subject, client_id, ip, detail, occurrences
                  from audit_events where ($1 is null or action = $1)
                  order by at_ms desc, id limit $2 offset $3",
            )
            .bind(action)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(pool)
            .await)?;
        let (total,): (i64,) = with_pool!(self, pool =>
            sqlx::query_as(r"select count(*) from audit_events where ($1 is null or action = $1)")
                .bind(action)
                .fetch_one(pool)
                .await)?;
        Ok(Page { items, total })
    }
}

/// PostgreSQL: one statement whatever the batch size, prepared once per connection, with a
/// column per array. A multi-row VALUES of 1,000 events had a parameter per field of each event,
/// parsed and planned by the server for every batch.
async fn insert_as_arrays(pool: &PgPool, records: &[AuditRecord]) -> Result<(), sqlx::Error> {
    let column = |field: fn(&AuditRecord) -> Option<&str>| -> Vec<Option<&str>> {
        records.iter().map(field).collect()
    };
    sqlx::query(
        "insert into audit_events
             (id, at_ms, action, actor, subject, client_id, ip, detail, occurrences)
         select * from unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::int8[])",
    )
    .bind(column(|r| Some(&r.id)))
    .bind(records.iter().map(|r| r.at_ms).collect::<Vec<i64>>())
    .bind(column(|r| Some(&r.action)))
    .bind(column(|r| r.actor.as_deref()))
    .bind(column(|r| r.subject.as_deref()))
    .bind(column(|r| r.client_id.as_deref()))
    .bind(column(|r| r.ip.as_deref()))
    .bind(column(|r| r.detail.as_deref()))
    .bind(records.iter().map(|r| r.occurrences).collect::<Vec<i64>>())
    .execute(pool)
    .await
    .map(|_| ())
}

/// SQLite: one multi-row insert (SQLite has no arrays to bind).
async fn insert_as_rows(pool: &SqlitePool, records: &[AuditRecord]) -> Result<(), sqlx::Error> {
    let mut insert = sqlx::QueryBuilder::new(
        "insert into audit_events
             (id, at_ms, action, actor, subject, client_id, ip, detail, occurrences) ",
    );
    insert.push_values(records, |mut row, record| {
        row.push_bind(&record.id)
            .push_bind(record.at_ms)
            .push_bind(&record.action)
            .push_bind(&record.actor)
            .push_bind(&record.subject)
            .push_bind(&record.client_id)
            .push_bind(&record.ip)
            .push_bind(&record.detail)
            .push_bind(record.occurrences);
    });
    // Not cached: every batch size is a different statement, and each connection would keep up
    // to its cache size of them (hundreds of KiB apiece, compiled in our process).
    let mut tx = pool.begin_write().await?;
    insert.build().persistent(false).execute(&mut *tx).await?;
    tx.commit().await
}
