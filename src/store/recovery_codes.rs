//! Recovery codes, stored only as SHA-256 hashes: using one deletes its row (the delete decides,
//! so two uses of one code cannot both succeed), regenerating replaces them all.

use super::{BeginWrite, Store, StoreError, with_pool, with_write};

impl Store {
    /// Uses the recovery code hashing to `code_hash`: true for exactly one caller.
    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = with_write!(self, pool =>
            sqlx::query(r"delete from recovery_codes where code_hash = $1 and user_id = $2")
                .bind(code_hash)
                .bind(user_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(done == 1)
    }

    /// Unused recovery codes of the user.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64, StoreError> {
        let left: i64 = with_pool!(self, pool =>
            sqlx::query_scalar(r"select count(*) from recovery_codes where user_id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await)?;
        Ok(left)
    }

    /// Replaces the user's recovery codes with `code_hashes`, in one transaction: the old
    /// ones stop working the moment the new ones exist.
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        code_hashes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(r"delete from recovery_codes where user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for hash in code_hashes {
                sqlx::query(
                    r"insert into recovery_codes (code_hash, user_id, created_at) values ($1, $2, $3)",
                )
                .bind(hash)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)
    }
}
