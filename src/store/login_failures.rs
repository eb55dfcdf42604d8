//! Login attempt counters shared by every instance, for lockout and throttling.
//!
//! A counter's `failures` holds the attempts of its window that failed or are still being
//! checked: an attempt is reserved before its password is hashed and stays counted unless it
//! succeeds, so a burst cannot outrun the limit.

use super::{Store, StoreError, with_pool};

impl Store {
    /// Reserves one attempt for `key` if it is not locked and has fewer than `threshold`
    /// attempts in the window that began after `window_start`; returns whether it did.
    ///
    /// One statement does the check and the count, so concurrent attempts cannot all pass the
    /// check before any of them is counted.
    pub async fn reserve_login_attempt(
        &self,
        key: &str,
        threshold: i64,
        now: i64,
        window_start: i64,
    ) -> Result<bool, StoreError> {
        let reserved: Option<(i64,)> = with_pool!(self, pool =>
            sqlx::query_as(
                r"insert into login_failures (key, failures, window_start, locked_until, lock_count, updated_at)
                  values ($1, 1, $2, 0, 0, $2)
                  on conflict (key) do update set
                      failures = case when login_failures.window_start < $3 then 1
                                      else login_failures.failures + 1 end,
                      window_start = case when login_failures.window_start < $3 then $2
                                          else login_failures.window_start end,
                      updated_at = $2
                  where login_failures.locked_until <= $2
                    and (login_failures.window_start < $3 or login_failures.failures < $4)
                  returning failures",
            )
            .bind(key)
            .bind(now)
            .bind(window_start)
            .bind(threshold)
            .fetch_optional(pool)
            .await)?;
        Ok(reserved.is_some())
    }

    /// When `key` is locked until and when its window began, if it has a counter.
    pub async fn login_counter(&self, key: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let counter: Option<(i64, i64)> = with_pool!(self, pool =>
            sqlx::query_as(r"select locked_until, window_start from login_failures where key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await)?;
        Ok(counter)
    }

    /// Gives back an attempt that was reserved but not used as a failure.
    pub async fn release_login_attempt(&self, key: &str) -> Result<(), StoreError> {
        with_pool!(self, pool =>
            sqlx::query(
                r"update login_failures set failures = failures - 1
                  where key = $1 and failures > 0",
            )
            .bind(key)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Locks `key` if its window holds `threshold` attempts and it is not locked already;
    /// returns the lock's length in seconds when this call set it.
    ///
    /// `lock_secs_sql` is the lock length as an SQL expression of `lock_count` (built from
    /// settings, never from input). Exactly one of several concurrent callers sets the lock.
    pub async fn lock_login_if_exhausted(
        &self,
        key: &str,
        threshold: i64,
        now: i64,
        lock_secs_sql: &str,
    ) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            r"update login_failures
              set locked_until = $3 + ({lock_secs_sql}), lock_count = lock_count + 1,
                  failures = 0, window_start = $3, updated_at = $3
              where key = $1 and failures >= $2 and locked_until <= $3
              returning locked_until - $3"
        );
        let locked: Option<(i64,)> = with_pool!(self, pool =>
            sqlx::query_as(&sql)
                .bind(key)
                .bind(threshold)
                .bind(now)
                .fetch_optional(pool)
                .await)?;
        Ok(locked.map(|(seconds,)| seconds))
    }

    /// Forgets a key's attempts and lock (after a successful login).
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
