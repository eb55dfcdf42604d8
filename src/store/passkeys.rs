//! Passkeys (WebAuthn credentials) and the answered WebAuthn challenges that make each ceremony
//! single-use across instances.

use sqlx::FromRow;

use super::{Store, StoreError, conflict_on_unique, with_pool, with_write};

/// A registered passkey.
#[derive(Debug, Clone, FromRow)]
pub struct StoredPasskey {
    /// The credential id, base64url: unique across all users.
    pub credential_id: String,
    /// Whose it is.
    pub user_id: String,
    /// The name its owner gave it.
    pub name: String,
    /// The WebAuthn library's serialised credential (public key, counter): public data.
    pub passkey: String,
    /// The highest signature counter seen (0: the authenticator keeps none).
    pub sign_count: i64,
    /// Unix time of registration.
    pub created_at: i64,
    /// Unix time of the last sign-in with it.
    pub last_used_at: Option<i64>,
}

/// A passkey to store.
#[derive(Debug)]
pub struct NewPasskey<'a> {
    /// The credential id, base64url.
    pub credential_id: &'a str,
    /// The owner.
    pub user_id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The serialised credential.
    pub passkey: &'a str,
    /// Unix time of registration.
    pub now: i64,
}

/// What `Store::add_passkey` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyAdded {
    /// Stored.
    Added,
    /// Its credential id is registered already, to this user or another (WebAuthn 7.1 step 26).
    Duplicate,
    /// The user holds the most passkeys allowed.
    TooMany,
}

/// What `Store::record_passkey_use` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyUse {
    /// Recorded.
    Recorded,
    /// The counter did not grow past the stored one: a cloned authenticator, or a race with one
    /// (or the passkey was deleted meanwhile).
    CounterDidNotGrow,
}

const COLUMNS: &str = "credential_id, user_id, name, passkey, sign_count, created_at, last_used_at";

impl Store {
    /// Stores a passkey, unless its credential id is registered already (to anyone) or the user
    /// holds `max_per_user` passkeys.
    pub async fn add_passkey(
        &self,
        new: &NewPasskey<'_>,
        max_per_user: i64,
    ) -> Result<PasskeyAdded, StoreError> {
        // The cap is checked in the insert itself, so no read-then-write gap.
        let inserted = with_write!(self, pool =>
            sqlx::query(
                r"insert into passkeys (credential_id, user_id, name, passkey, sign_count, created_at)
                  select $1, $2, $3, $4, 0, $5
                  where (select count(*) from passkeys where user_id = $2) < $6",
            )
            .bind(new.credential_id)
            .bind(new.user_id)
            .bind(new.name)
            .bind(new.passkey)
            .bind(new.now)
            .bind(max_per_user)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| conflict_on_unique(error, "this passkey is registered already"));
        Ok(match inserted {
            Ok(0) => PasskeyAdded::TooMany,
            Ok(_) => PasskeyAdded::Added,
            Err(StoreError::Conflict(_)) => PasskeyAdded::Duplicate,
            Err(other) => return Err(other),
        })
    }

    /// The user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from passkeys where user_id = $1 order by created_at, credential_id"
        );
        let rows = with_pool!(self, pool =>
            sqlx::query_as::<_, StoredPasskey>(&sql).bind(user_id).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// The passkey with this credential id, whoever holds it.
    pub async fn find_passkey(
        &self,
        credential_id: &str,
    ) -> Result<Option<StoredPasskey>, StoreError> {
        let sql = format!("select {COLUMNS} from passkeys where credential_id = $1");
        let row = with_pool!(self, pool =>
            sqlx::query_as::<_, StoredPasskey>(&sql).bind(credential_id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// How many passkeys the user holds.
    pub async fn count_passkeys(&self, user_id: &str) -> Result<i64, StoreError> {
        let count: i64 = with_pool!(self, pool =>
            sqlx::query_scalar(r"select count(*) from passkeys where user_id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await)?;
        Ok(count)
    }

    /// Renames one of the user's passkeys; false when they hold none with that id.
    pub async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let changed = with_write!(self, pool =>
            sqlx::query(r"update passkeys set name = $3 where user_id = $1 and credential_id = $2")
                .bind(user_id)
                .bind(credential_id)
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(changed > 0)
    }

    /// Deletes one of the user's passkeys; false when they hold none with that id.
    pub async fn delete_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
    ) -> Result<bool, StoreError> {
        let deleted = with_write!(self, pool =>
            sqlx::query(r"delete from passkeys where user_id = $1 and credential_id = $2")
                .bind(user_id)
                .bind(credential_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(deleted > 0)
    }

    /// Records a sign-in with a passkey: its updated credential, counter and time of use. The
    /// counter must grow (WebAuthn 7.2 step 22) unless both it and the stored one are 0 (an
    /// authenticator without a counter); one conditional update, so of two racing uses with the
    /// same counter only one passes.
    pub async fn record_passkey_use(
        &self,
        credential_id: &str,
        passkey: &str,
        sign_count: i64,
        now: i64,
    ) -> Result<PasskeyUse, StoreError> {
        let changed = with_write!(self, pool =>
            sqlx::query(
                r"update passkeys set passkey = $2, sign_count = $3, last_used_at = $4
                  where credential_id = $1
                    and (sign_count < $3 or (sign_count = 0 and $3 = 0))",
            )
            .bind(credential_id)
            .bind(passkey)
            .bind(sign_count)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(if changed > 0 {
            PasskeyUse::Recorded
        } else {
            PasskeyUse::CounterDidNotGrow
        })
    }

    /// Marks a WebAuthn challenge (its SHA-256, hex) answered until `expires_at`; false when it
    /// was answered already: a replay, on this instance or another.
    pub async fn use_webauthn_challenge(
        &self,
        challenge_hash: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = with_write!(self, pool =>
            sqlx::query(
                r"insert into webauthn_challenges_used (challenge_hash, expires_at) values ($1, $2)
                  on conflict (challenge_hash) do nothing",
            )
            .bind(challenge_hash)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(inserted > 0)
    }
}
