//! TOTP authenticators: one per user, the secret sealed (see `mfa::totp::TotpSealer`), and the
//! highest step accepted so far, so that a code is accepted once across every instance.

use sqlx::FromRow;

use super::{BeginWrite, Store, StoreError, conflict_on_unique, with_pool, with_write};

/// A user's stored authenticator.
#[derive(Clone, FromRow)]
pub struct TotpCredential {
    /// The sealed secret (opened only by `TotpSealer::open`).
    pub sealed_secret: String,
    /// The highest step a code was accepted for; codes of it and older steps are refused.
    pub last_step: i64,
}

impl std::fmt::Debug for TotpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpCredential")
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// A confirmed enrolment, ready to store.
pub struct TotpEnrolment<'a> {
    /// Whose.
    pub user_id: &'a str,
    /// The sealed secret.
    pub sealed_secret: &'a str,
    /// The step of the code that confirmed it (already used).
    pub accepted_step: i64,
    /// SHA-256 hex of each new recovery code.
    pub recovery_code_hashes: &'a [String],
    /// Unix seconds.
    pub now: i64,
}

impl Store {
    /// The user's authenticator, if one is set up.
    pub async fn find_totp(&self, user_id: &str) -> Result<Option<TotpCredential>, StoreError> {
        let found: Option<TotpCredential> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select sealed_secret, last_step from totp_credentials where user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await)?;
        Ok(found)
    }

    /// Stores a confirmed authenticator and replaces the user's recovery codes, in one
    /// transaction. One per user: `Conflict` when one is set up already (nothing is replaced).
    pub async fn enrol_totp(&self, enrolment: &TotpEnrolment<'_>) -> Result<(), StoreError> {
        let taken = "a TOTP authenticator is already set up";
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                r"insert into totp_credentials (user_id, sealed_secret, last_step, created_at)
                  values ($1, $2, $3, $4)",
            )
            .bind(enrolment.user_id)
            .bind(enrolment.sealed_secret)
            .bind(enrolment.accepted_step)
            .bind(enrolment.now)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_on_unique(e, taken))?;
            sqlx::query(r"delete from recovery_codes where user_id = $1")
                .bind(enrolment.user_id)
                .execute(&mut *tx)
                .await?;
            for hash in enrolment.recovery_code_hashes {
                sqlx::query(
                    r"insert into recovery_codes (code_hash, user_id, created_at) values ($1, $2, $3)",
                )
                .bind(hash)
                .bind(enrolment.user_id)
                .bind(enrolment.now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }.await)
    }

    /// Accepts a code of `step`: true for exactly one caller, and only if no code of this or a
    /// later step was accepted before. One conditional UPDATE, so it holds across instances.
    pub async fn accept_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let done = with_write!(self, pool =>
            sqlx::query(
                r"update totp_credentials set last_step = $2 where user_id = $1 and last_step < $2",
            )
            .bind(user_id)
            .bind(step)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(done == 1)
    }

    /// Removes the user's authenticator and recovery codes; false when there was none.
    pub async fn remove_totp(&self, user_id: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let removed = sqlx::query(r"delete from totp_credentials where user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(r"delete from recovery_codes where user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(removed > 0)
        }.await)
    }
}
