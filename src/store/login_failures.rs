//! Login attempt counters shared by every instance, for lockout and throttling.
//!
//! A counter's `failures` holds the attempts of its window that failed or are still being
//! checked: an attempt is reserved before its password is hashed and stays counted unless it
//! succeeds, so a burst cannot outrun the limit. Each step of an attempt (reserve, settle a
//! success, lock after a failure) is one transaction, so a login costs two commits. Every
//! transaction touches counters in the order its caller lists them (address, pair, account), so
//! concurrent ones cannot deadlock on PostgreSQL.

use super::{BeginWrite, Store, StoreError, with_pool};

const RELEASE: &str =
    r"update login_failures set failures = failures - 1 where key = $1 and failures > 0";

/// One limit an attempt is counted against.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimit<'a> {
    /// The counter.
    pub key: &'a str,
    /// Attempts allowed in a window.
    pub threshold: i64,
    /// Attempts that began before this instant belong to an earlier window.
    pub window_start: i64,
}

impl Store {
    /// Reserves one attempt against every limit (at most a few); returns the index of the first
    /// limit that refused (locked, or its window full), in which case nothing stays counted.
    ///
    /// One statement checks every limit and counts the attempt where it passes, so concurrent
    /// attempts cannot all pass the check before any of them is counted, and a granted login
    /// costs one round trip. It locks its rows in the order of `limits`; a refusal gives back
    /// what it counted.
    pub async fn reserve_login_attempts(
        &self,
        limits: &[AttemptLimit<'_>],
        now: i64,
    ) -> Result<Option<usize>, StoreError> {
        let sql = reserve_sql(limits.len());
        let reserved: Vec<(String,)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            for limit in limits {
                query = query.bind(limit.key);
            }
            query = query.bind(now);
            for limit in limits {
                query = query.bind(limit.window_start);
            }
            for limit in limits {
                query = query.bind(limit.threshold);
            }
            query.fetch_all(pool).await
        })?;
        let Some(refused) = limits
            .iter()
            .position(|limit| !reserved.iter().any(|(key,)| key == limit.key))
        else {
            return Ok(None);
        };
        let counted: Vec<&str> = reserved.iter().map(|(key,)| key.as_str()).collect();
        self.release_login_attempts(&counted).await?;
        Ok(Some(refused))
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

    /// Gives back attempts that were reserved but not evaluated.
    pub async fn release_login_attempts(&self, keys: &[&str]) -> Result<(), StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            for key in keys {
                sqlx::query(RELEASE).bind(*key).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)
    }

    /// Settles a successful attempt in one transaction: gives back its reservations on the
    /// address and (when it was counted there) the account, forgets the pair's counter and any
    /// lock on it, and remembers that `user_key` signed in from `address`.
    pub async fn settle_login_success(
        &self,
        address_key: Option<&str>,
        pair_key: &str,
        account_key: Option<&str>,
        signed_in: Option<(&str, &str)>,
        now: i64,
    ) -> Result<(), StoreError> {
        // One statement for the counters: it visits them in the reservation's order (address,
        // pair, account), so it cannot deadlock with a reservation. A missing counter comes
        // back as an empty row, which the janitor sweeps.
        let mut keys: Vec<&str> = Vec::with_capacity(3);
        keys.extend(address_key);
        keys.push(pair_key);
        keys.extend(account_key);
        let rows: Vec<String> = (1..=keys.len())
            .map(|i| format!("(${i}, 0, 0, 0, 0, 0)"))
            .collect();
        let pair = keys.len() + 1;
        let settle = format!(
            r"insert into login_failures (key, failures, window_start, locked_until, lock_count, updated_at)
              values {}
              on conflict (key) do update set
                  failures = case when login_failures.key = ${pair} or login_failures.failures < 1
                                  then 0 else login_failures.failures - 1 end,
                  locked_until = case when login_failures.key = ${pair} then 0
                                      else login_failures.locked_until end,
                  lock_count = case when login_failures.key = ${pair} then 0
                                    else login_failures.lock_count end",
            rows.join(", ")
        );
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let mut query = sqlx::query(&settle);
            for key in &keys {
                query = query.bind(*key);
            }
            query.bind(pair_key).execute(&mut *tx).await?;
            if let Some((user_key, address)) = signed_in {
                sqlx::query(
                    r"insert into login_addresses (user_key, address, last_success) values ($1, $2, $3)
                      on conflict (user_key, address) do update set last_success = $3",
                )
                .bind(user_key)
                .bind(address)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)
    }

    /// Locks each `(key, threshold)` whose window holds `threshold` attempts and that is not
    /// locked already, in one transaction; returns the longest lock it set, in seconds.
    ///
    /// `lock_secs_sql` is the lock length as an SQL expression of `lock_count` (built from
    /// settings, never from input). Exactly one of several concurrent callers sets a lock.
    pub async fn lock_logins_if_exhausted(
        &self,
        limits: &[(&str, i64)],
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
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let mut longest: Option<i64> = None;
            for (key, threshold) in limits {
                let locked: Option<(i64,)> = sqlx::query_as(&sql)
                    .bind(*key)
                    .bind(*threshold)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some((seconds,)) = locked {
                    longest = Some(longest.unwrap_or(0).max(seconds));
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(longest)
        }.await)
    }
}

/// The reservation statement for `n` counters: keys are `$1..$n`, now is `$n+1`, the window
/// starts follow, then the thresholds. Only numbered placeholders are generated; no input
/// reaches the SQL text.
fn reserve_sql(n: usize) -> String {
    let now = n + 1;
    let per_key = |first: usize| {
        let arms: String = (1..=n)
            .map(|i| format!(" when ${i} then ${}", first + i - 1))
            .collect();
        format!("(case login_failures.key{arms} end)")
    };
    let window_start = per_key(n + 2);
    let threshold = per_key(2 * n + 2);
    let rows: Vec<String> = (1..=n)
        .map(|i| format!("(${i}, 1, ${now}, 0, 0, ${now})"))
        .collect();
    format!(
        r"insert into login_failures (key, failures, window_start, locked_until, lock_count, updated_at)
          values {rows}
          on conflict (key) do update set
              failures = case when login_failures.window_start < {window_start} then 1
                              else login_failures.failures + 1 end,
              window_start = case when login_failures.window_start < {window_start} then ${now}
                                  else login_failures.window_start end,
              updated_at = ${now}
          where login_failures.locked_until <= ${now}
            and (login_failures.window_start < {window_start}
                 or login_failures.failures < {threshold})
          returning key",
        rows = rows.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reservation_statement_numbers_its_placeholders_per_counter() {
        let sql = reserve_sql(2);
        assert!(sql.contains("values ($1, 1, $3, 0, 0, $3), ($2, 1, $3, 0, 0, $3)"));
        assert!(sql.contains("(case login_failures.key when $1 then $4 when $2 then $5 end)"));
        assert!(sql.contains("(case login_failures.key when $1 then $6 when $2 then $7 end)"));
    }
}
