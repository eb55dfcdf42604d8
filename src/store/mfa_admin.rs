//! Second factors as admins see and reset them: counts for a page of users at once, and the
//! reset that removes them all.

use std::collections::HashMap;

use super::{BeginWrite, SecondFactors, Store, StoreError, with_pool};

impl Store {
    /// The second factors of each of `user_ids` (a page of users): three grouped queries,
    /// whatever the page size. Users without any are absent from the map.
    pub async fn second_factors_of(
        &self,
        user_ids: &[String],
    ) -> Result<HashMap<String, SecondFactors>, StoreError> {
        let mut found: HashMap<String, SecondFactors> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(found);
        }
        // Only numbered placeholders are generated; the ids are bound.
        let placeholders: Vec<String> = (1..=user_ids.len()).map(|i| format!("${i}")).collect();
        let list = placeholders.join(", ");
        for (index, table) in ["totp_credentials", "passkeys", "recovery_codes"]
            .into_iter()
            .enumerate()
        {
            let sql = format!(
                "select user_id, count(*) from {table} where user_id in ({list}) group by user_id"
            );
            let counts: Vec<(String, i64)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(&sql);
                for id in user_ids {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await
            })?;
            for (user_id, count) in counts {
                let factors = found.entry(user_id).or_default();
                match index {
                    0 => factors.totp = count > 0,
                    1 => factors.passkeys = count,
                    _ => factors.recovery_codes_left = count,
                }
            }
        }
        Ok(found)
    }

    /// Removes every second factor of the user (TOTP, recovery codes, passkeys), for an admin
    /// reset; returns what there was.
    pub async fn reset_second_factors(&self, user_id: &str) -> Result<SecondFactors, StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let mut removed = Vec::with_capacity(3);
            for sql in [
                r"delete from totp_credentials where user_id = $1",
                r"delete from passkeys where user_id = $1",
                r"delete from recovery_codes where user_id = $1",
            ] {
                let rows = sqlx::query(sql)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                removed.push(i64::try_from(rows).unwrap_or(i64::MAX));
            }
            tx.commit().await?;
            Ok::<_, StoreError>(SecondFactors {
                totp: removed[0] > 0,
                passkeys: removed[1],
                recovery_codes_left: removed[2],
            })
        }.await)
    }
}
