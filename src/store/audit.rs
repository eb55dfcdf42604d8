//! Audit events.

use sqlx::FromRow;

use super::{Page, PageRequest, Store, StoreError, with_pool};

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
}

impl Store {
    /// Writes a batch of events with one multi-row insert.
    pub async fn insert_audit_records(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        with_pool!(self, pool => {
            let mut insert = sqlx::QueryBuilder::new(
                "insert into audit_events (id, at_ms, action, actor, subject, client_id, ip, detail) ",
            );
            insert.push_values(records, |mut row, record| {
                row.push_bind(&record.id)
                    .push_bind(record.at_ms)
                    .push_bind(&record.action)
                    .push_bind(&record.actor)
                    .push_bind(&record.subject)
                    .push_bind(&record.client_id)
                    .push_bind(&record.ip)
                    .push_bind(&record.detail);
            });
            // Not cached: every batch size is a different statement, and each driver connection
            // would keep up to its cache size of them (hundreds of KiB apiece on SQLite, which
            // compiles them in our process).
            insert.build().persistent(false).execute(pool).await.map(|_| ())
        })?;
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
                r"select id, at_ms, action, actor, subject, client_id, ip, detail from audit_events
                  where ($1 is null or action = $1)
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
