//! Audit events.

use sqlx::FromRow;

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
}

impl Store {
    /// Writes a batch of events in one transaction.
    pub async fn insert_audit_records(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            for record in records {
                sqlx::query(
                    r"insert into audit_events (id, at_ms, action, actor, subject, client_id, ip, detail)
                      values ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&record.id)
                .bind(record.at_ms)
                .bind(&record.action)
                .bind(&record.actor)
                .bind(&record.subject)
                .bind(&record.client_id)
                .bind(&record.ip)
                .bind(&record.detail)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)
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
