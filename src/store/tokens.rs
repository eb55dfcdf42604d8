//! Refresh tokens (by hash) and revoked access tokens (by `jti`).

use sqlx::FromRow;

use super::{BeginWrite, RefreshTokenRecord, RotateOutcome, Store, StoreError, with_pool};

#[derive(FromRow)]
struct RefreshRow {
    token_hash: String,
    family_id: String,
    client_id: String,
    user_id: String,
    scope: String,
    issued_at: i64,
    expires_at: i64,
    rotated_at: Option<i64>,
}

const INSERT_REFRESH: &str = r"insert into refresh_tokens
    (token_hash, family_id, client_id, user_id, scope, issued_at, expires_at, rotated_at)
    values ($1, $2, $3, $4, $5, $6, $7, null)";

impl Store {
    /// Stores a newly issued refresh token.
    pub async fn insert_refresh_token(
        &self,
        record: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool =>
            bind_refresh(sqlx::query(INSERT_REFRESH), record).execute(pool).await.map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// The refresh token with this hash, rotated or not.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row: Option<RefreshRow> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select token_hash, family_id, client_id, user_id, scope, issued_at, expires_at,
                         rotated_at
                  from refresh_tokens where token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|row| RefreshTokenRecord {
            token_hash: row.token_hash,
            family_id: row.family_id,
            client_id: row.client_id,
            user_id: row.user_id,
            scope: row.scope,
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            rotated_at: row.rotated_at,
        }))
    }

    /// Retires `old_hash` and stores `new` atomically; exactly one concurrent caller wins.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
    ) -> Result<RotateOutcome, StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            // The conditional update is the lock: a second exchange finds rotated_at set.
            let updated = sqlx::query(
                r"update refresh_tokens set rotated_at = $2
                  where token_hash = $1 and rotated_at is null",
            )
            .bind(old_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(RotateOutcome::AlreadyRotated);
            }
            bind_refresh(sqlx::query(INSERT_REFRESH), new).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(RotateOutcome::Rotated)
        }.await)
    }

    /// Deletes every token of a rotation family; returns how many there were.
    pub async fn revoke_refresh_family(&self, family_id: &str) -> Result<u64, StoreError> {
        let deleted = with_pool!(self, pool =>
            sqlx::query(r"delete from refresh_tokens where family_id = $1")
                .bind(family_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(deleted)
    }

    /// Remembers a revoked access token until it would have expired.
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        with_pool!(self, pool =>
            sqlx::query(
                r"insert into revoked_access_tokens (jti, expires_at, revoked_at_ms) values ($1, $2, $3)
                  on conflict (jti) do nothing",
            )
            .bind(jti)
            .bind(expires_at)
            .bind(crate::clock::unix_now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Whether the access token with `jti` was revoked (and its record not yet swept).
    pub async fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> = with_pool!(self, pool =>
            sqlx::query_as(r"select jti from revoked_access_tokens where jti = $1")
                .bind(jti)
                .fetch_optional(pool)
                .await)?;
        Ok(row.is_some())
    }
}

fn bind_refresh<'q, DB: sqlx::Database>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    record: &'q RefreshTokenRecord,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(&record.token_hash)
        .bind(&record.family_id)
        .bind(&record.client_id)
        .bind(&record.user_id)
        .bind(&record.scope)
        .bind(record.issued_at)
        .bind(record.expires_at)
}
