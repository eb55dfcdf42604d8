//! Refresh retries: the token a rotation just exchanged, presented again within the window,
//! gets the successor that rotation sealed into the family's row (migration 0016).

use sqlx::FromRow;

use super::tokens::{FAMILY_COLUMNS, FamilyRow};
use super::{RefreshFamily, Store, StoreError, with_pool, with_write};

#[derive(FromRow)]
struct RetryRow {
    #[sqlx(flatten)]
    family: FamilyRow,
    successor_sealed: String,
}

/// A presented token that may be the one the family's last rotation exchanged.
#[derive(Debug)]
pub struct RefreshRetry<'a> {
    /// The family the token names.
    pub family_id: &'a str,
    /// SHA-256 (hex) of the presented token.
    pub presented_hash: &'a str,
    /// The client presenting it, and its registration.
    pub client_id: &'a str,
    /// See `client_id`.
    pub client_registration: &'a str,
    /// Now, by the flows' clock (the window's clock).
    pub clock_now: i64,
    /// Now, by the wall clock (the family's expiry's clock).
    pub now: i64,
}

impl Store {
    /// The family and its sealed successor, if `retry` presents the token the last rotation
    /// exchanged, from the family's client, within the window, while the family's user still
    /// holds it.
    ///
    /// It is an UPDATE (of nothing), not a SELECT, so that it meets revocations on the row as a
    /// rotation does: a revocation or password change that committed first leaves it nothing to
    /// find, and one that comes second waits for it.
    pub async fn claim_refresh_retry(
        &self,
        retry: &RefreshRetry<'_>,
    ) -> Result<Option<(RefreshFamily, String)>, StoreError> {
        let sql = format!(
            r"update refresh_families set retry_until = retry_until
              where id = $1 and previous_hash = $2 and client_id = $3
                and client_registration = $4 and retry_until > $5 and expires_at > $6
                and successor_sealed is not null
                and exists (select 1 from users u
                            where u.id = refresh_families.user_id and not u.disabled
                              and u.token_generation = refresh_families.user_generation)
              returning {FAMILY_COLUMNS}, successor_sealed"
        );
        let row: Option<RetryRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql)
                .bind(retry.family_id)
                .bind(retry.presented_hash)
                .bind(retry.client_id)
                .bind(retry.client_registration)
                .bind(retry.clock_now)
                .bind(retry.now)
                .fetch_optional(pool)
                .await)?;
        Ok(row.map(|row| (RefreshFamily::from(row.family), row.successor_sealed)))
    }

    /// Forgets successors whose retry window ended before `now` (the janitor's sweep).
    pub async fn clear_refresh_retries(&self, now: i64) -> Result<u64, StoreError> {
        let cleared = with_write!(self, pool =>
            sqlx::query(
                r"update refresh_families
                  set previous_hash = null, successor_sealed = null, retry_until = null
                  where retry_until < $1",
            )
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(cleared)
    }
}
