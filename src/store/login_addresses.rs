//! Addresses each user recently signed in from (exempt from the per-account guess budget).
//! `settle_login_success` (login_failures.rs) writes them, in the same transaction as the counters.

use super::{Store, StoreError, with_pool};

impl Store {
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
