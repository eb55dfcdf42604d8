//! Signing keys, shared by every instance on the same database.

use sqlx::FromRow;

use super::{Store, StoreError, StoredKey, with_pool, with_write};

#[derive(FromRow)]
struct KeyRow {
    kid: String,
    algorithm: String,
    private_key: Vec<u8>,
    public_jwk: String,
    created_at_ms: i64,
    activates_at_ms: i64,
}

impl Store {
    /// Stores a new key.
    pub async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(
                r"insert into signing_keys (kid, algorithm, private_key, public_jwk, created_at_ms,
                                            activates_at_ms)
                  values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.private_key)
            .bind(&key.public_jwk)
            .bind(key.created_at_ms)
            .bind(key.activates_at_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Every stored key, oldest activation first.
    pub async fn list_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows: Vec<KeyRow> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select kid, algorithm, private_key, public_jwk, created_at_ms, activates_at_ms
                  from signing_keys order by activates_at_ms, created_at_ms, kid",
            )
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|row| StoredKey {
                kid: row.kid,
                algorithm: row.algorithm,
                private_key: row.private_key,
                public_jwk: row.public_jwk,
                created_at_ms: row.created_at_ms,
                activates_at_ms: row.activates_at_ms,
            })
            .collect())
    }

    /// Removes a key; tokens it signed stop verifying.
    pub async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(r"delete from signing_keys where kid = $1")
                .bind(kid)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(())
    }
}
