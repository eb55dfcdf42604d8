//! Failed-login counters shared by every instance, for lockout and throttling.

use super::{Store, StoreError, with_pool};

/// A key's counter after a failure was added.
#[derive(Debug, Clone, Copy)]
pub struct FailureCount {
    /// Failures in the current window.
    pub failures: i64,
    /// Locks so far.
    pub lock_count: i64,
}

impl Store {
    /// The counters of `user_key` and `ip_key` that exist, with their `locked_until`.
    pub async fn login_counters(
        &self,
        user_key: &str,
        ip_key: Option<&str>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool =>
            sqlx::query_as(r"select key, locked_until from login_failures where key = $1 or key = $2")
                .bind(user_key)
                .bind(ip_key.unwrap_or(user_key))
                .fetch_all(pool)
                .await)?;
        Ok(rows)
    }

    /// Adds a failure; the window restarts when the last one began before `window_start`.
    pub async fn add_login_failure(
        &self,
        key: &str,
        now: i64,
        window_start: i64,
    ) -> Result<FailureCount, StoreError> {
        let (failures, lock_count): (i64, i64) = with_pool!(self, pool =>
            sqlx::query_as(
                r"insert into login_failures (key, failures, window_start, locked_until, lock_count, updated_at)
                  values ($1, 1, $2, 0, 0, $2)
                  on conflict (key) do update set
                      failures = case when login_failures.window_start < $3 then 1
                                      else login_failures.failures + 1 end,
                      window_start = case when login_failures.window_start < $3 then $2
                                          else login_failures.window_start end,
                      updated_at = $2
                  returning failures, lock_count",
            )
            .bind(key)
            .bind(now)
            .bind(window_start)
            .fetch_one(pool)
            .await)?;
        Ok(FailureCount {
            failures,
            lock_count,
        })
    }

    /// Locks `key` until `until` and starts a new counting window.
    pub async fn lock_login(&self, key: &str, until: i64, now: i64) -> Result<(), StoreError> {
        with_pool!(self, pool =>
            sqlx::query(
                r"update login_failures
                  set locked_until = $2, lock_count = lock_count + 1, failures = 0,
                      window_start = $3, updated_at = $3
                  where key = $1",
            )
            .bind(key)
            .bind(until)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Forgets a key's failures (after a successful login).
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        with_pool!(self, pool =>
            sqlx::query(r"delete from login_failures where key = $1")
                .bind(key)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(())
    }
}
