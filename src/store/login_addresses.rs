//! Addresses each user recently signed in from (exempt from the per-account guess budget).

use super::{Store, StoreError, with_pool};

impl Store {
    /// Remembers that `user_key` signed in from `address` at `now`.
    pub async fn remember_login_address(
        &self,
        user_key: &str,
        address: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool =>
            sqlx::query(
                r"insert into login_addresses (user_key, address, last_success) values ($1, $2, $3)
                  on conflict (user_key, address) do update set last_success = $3",
            )
            .bind(user_key)
            .bind(address)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Whether `user_key` signed in from `address` at or after `since`.
    pub async fn is_known_login_address(
        &self,
        user_key: &str,
        address: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        let found: Option<(i64,)> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select last_success from login_addresses
                  where user_key = $1 and address = $2 and last_success >= $3",
            )
            .bind(user_key)
            .bind(address)
            .bind(since)
            .fetch_optional(pool)
            .await)?;
        Ok(found.is_some())
    }
}
