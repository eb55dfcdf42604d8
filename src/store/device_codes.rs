//! Device codes (RFC 8628): one row per device authorization, from issue until the janitor
//! sweeps it after expiry.
//!
//! Every change of state is one conditional UPDATE on the row (PostgreSQL re-checks the WHERE
//! after waiting for a concurrent writer's lock; SQLite runs one writer at a time): a poll
//! either claims its turn or is told to slow down, a pending code is approved or denied once,
//! and an approved code is redeemed once.

use sqlx::FromRow;

use super::{Store, StoreError, conflict_on_unique, with_pool, with_write};

/// Section 3.5: each `slow_down` adds this much to the code's polling interval.
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

/// A device authorization to store.
#[derive(Debug)]
pub struct NewDeviceCode<'a> {
    /// SHA-256 (hex) of the device code.
    pub device_code_hash: &'a str,
    /// SHA-256 (hex) of the normalised user code.
    pub user_code_hash: &'a str,
    /// The client that asked.
    pub client_id: &'a str,
    /// That client's registration.
    pub client_registration: &'a str,
    /// Scopes asked for; `None`: everything the client and the user may hold.
    pub scope: Option<&'a str>,
    /// RFC 8707 resources asked for, space-delimited.
    pub resources: &'a str,
    /// Now.
    pub created_at: i64,
    /// When both codes stop working.
    pub expires_at: i64,
    /// The first polling interval.
    pub interval_secs: i64,
}

/// What storing a device authorization did.
#[derive(Debug, PartialEq, Eq)]
pub enum DeviceCodeStored {
    /// Stored.
    Stored,
    /// The client holds `cap` unexpired codes already; nothing was stored.
    ClientFull,
    /// The user code is in use (a one-in-billions draw); nothing was stored.
    UserCodeTaken,
}

/// A stored device authorization.
#[derive(Debug, Clone, FromRow)]
pub struct DeviceCode {
    /// The client that asked.
    pub client_id: String,
    /// That client's registration.
    pub client_registration: String,
    /// Scopes asked for; `None`: everything the client and the user may hold.
    pub scope: Option<String>,
    /// RFC 8707 resources asked for, space-delimited.
    pub resources: String,
    /// When it stops working.
    pub expires_at: i64,
    /// The current polling interval.
    pub interval_secs: i64,
    /// `pending`, `approved`, `denied` or `redeemed`.
    pub status: String,
    /// Who approved or denied it.
    pub user_id: Option<String>,
    /// Their token generation at the approval.
    pub user_generation: Option<i64>,
    /// The scopes the approval granted.
    pub granted_scope: Option<String>,
    /// When the approving session last authenticated.
    pub auth_time: Option<i64>,
    /// How (RFC 8176 values, space-delimited).
    pub amr: Option<String>,
}

/// A person's decision on a pending code.
#[derive(Debug)]
pub enum DeviceDecision<'a> {
    /// Approved by the signed-in `user_id` with the session's authentication.
    Approve {
        /// Who.
        user_id: &'a str,
        /// Their token generation now.
        user_generation: i64,
        /// What they granted.
        granted_scope: &'a str,
        /// The session's `auth_time`.
        auth_time: i64,
        /// The session's `amr`.
        amr: &'a str,
    },
    /// Denied by `user_id`.
    Deny {
        /// Who.
        user_id: &'a str,
    },
}

/// What a poll found.
#[derive(Debug)]
pub enum DevicePoll {
    /// No code with this hash for this client.
    Unknown,
    /// The poll came sooner than the interval; the interval has grown (section 3.5).
    TooSoon(DeviceCode),
    /// The poll's turn, recorded: the code as it stands.
    Found(DeviceCode),
}

const COLUMNS: &str = "client_id, client_registration, scope, resources, expires_at, \
     interval_secs, status, user_id, user_generation, granted_scope, auth_time, amr";

impl Store {
    /// Stores a device authorization unless its client already holds `cap` unexpired codes.
    /// Two concurrent inserts for a client at the cap may both pass the count on PostgreSQL:
    /// the cap bounds the table to within a few rows, which is all it is for.
    pub async fn insert_device_code(
        &self,
        code: &NewDeviceCode<'_>,
        cap: i64,
    ) -> Result<DeviceCodeStored, StoreError> {
        let inserted = with_write!(self, pool =>
            sqlx::query(
                r"insert into device_codes (device_code_hash, user_code_hash, client_id,
                    client_registration, scope, resources, created_at, expires_at, interval_secs)
                  select $1, $2, $3, $4, $5, $6, $7, $8, $9
                  where (select count(*) from device_codes
                         where client_id = $3 and expires_at > $7) < $10",
            )
            .bind(code.device_code_hash)
            .bind(code.user_code_hash)
            .bind(code.client_id)
            .bind(code.client_registration)
            .bind(code.scope)
            .bind(code.resources)
            .bind(code.created_at)
            .bind(code.expires_at)
            .bind(code.interval_secs)
            .bind(cap)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()));
        match inserted {
            Ok(0) => Ok(DeviceCodeStored::ClientFull),
            Ok(_) => Ok(DeviceCodeStored::Stored),
            Err(error) => match conflict_on_unique(error, "user code taken") {
                StoreError::Conflict(_) => Ok(DeviceCodeStored::UserCodeTaken),
                other => Err(other),
            },
        }
    }

    /// The pending, unexpired code with this user code hash.
    pub async fn find_pending_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
    ) -> Result<Option<DeviceCode>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from device_codes
             where user_code_hash = $1 and status = 'pending' and expires_at > $2"
        );
        let row = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(user_code_hash).bind(now).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Records a decision on the pending, unexpired code with this user code hash; `false`
    /// when there is none (unknown, expired, or decided already: of two concurrent decisions,
    /// one wins).
    pub async fn decide_device_code(
        &self,
        user_code_hash: &str,
        decision: &DeviceDecision<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (status, user_id, generation, scope, auth_time, amr) = match decision {
            DeviceDecision::Approve {
                user_id,
                user_generation,
                granted_scope,
                auth_time,
                amr,
            } => (
                "approved",
                *user_id,
                Some(*user_generation),
                Some(*granted_scope),
                Some(*auth_time),
                Some(*amr),
            ),
            DeviceDecision::Deny { user_id } => ("denied", *user_id, None, None, None, None),
        };
        let updated = with_write!(self, pool =>
            sqlx::query(
                r"update device_codes set status = $2, user_id = $3, user_generation = $4,
                    granted_scope = $5, auth_time = $6, amr = $7, decided_at = $8
                  where user_code_hash = $1 and status = 'pending' and expires_at > $8",
            )
            .bind(user_code_hash)
            .bind(status)
            .bind(user_id)
            .bind(generation)
            .bind(scope)
            .bind(auth_time)
            .bind(amr)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(updated > 0)
    }

    /// A poll by the client `client_id` (of `registration`) for the code with this hash: takes
    /// its turn if the interval has passed since the last one, else grows the interval by
    /// `SLOW_DOWN_STEP_SECS`; either way the poll's time is recorded. Another client's poll
    /// finds nothing and changes nothing.
    pub async fn poll_device_code(
        &self,
        device_code_hash: &str,
        client_id: &str,
        registration: &str,
        now: i64,
    ) -> Result<DevicePoll, StoreError> {
        let on_time = format!(
            "update device_codes set last_polled_at = $4
             where device_code_hash = $1 and client_id = $2 and client_registration = $3
               and (last_polled_at is null or $4 - last_polled_at >= interval_secs)
             returning {COLUMNS}"
        );
        let found: Option<DeviceCode> = with_pool!(self, pool =>
            sqlx::query_as(&on_time)
                .bind(device_code_hash)
                .bind(client_id)
                .bind(registration)
                .bind(now)
                .fetch_optional(pool)
                .await)?;
        if let Some(found) = found {
            return Ok(DevicePoll::Found(found));
        }
        let too_soon = format!(
            "update device_codes set last_polled_at = $4, interval_secs = interval_secs + $5
             where device_code_hash = $1 and client_id = $2 and client_registration = $3
             returning {COLUMNS}"
        );
        let slowed: Option<DeviceCode> = with_pool!(self, pool =>
            sqlx::query_as(&too_soon)
                .bind(device_code_hash)
                .bind(client_id)
                .bind(registration)
                .bind(now)
                .bind(SLOW_DOWN_STEP_SECS)
                .fetch_optional(pool)
                .await)?;
        Ok(slowed.map_or(DevicePoll::Unknown, DevicePoll::TooSoon))
    }

    /// Redeems the approved, unexpired code with this hash, once, and only while the approving
    /// user is enabled and at the generation of the approval (a password change or a
    /// disabling since voids it). `None` when any of that fails, or another redemption won.
    pub async fn redeem_device_code(
        &self,
        device_code_hash: &str,
        now: i64,
    ) -> Result<Option<DeviceCode>, StoreError> {
        let sql = format!(
            "update device_codes set status = 'redeemed'
             where device_code_hash = $1 and status = 'approved' and expires_at > $2
               and exists (select 1 from users u
                           where u.id = device_codes.user_id and not u.disabled
                             and u.token_generation = device_codes.user_generation)
             returning {COLUMNS}"
        );
        let row = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(device_code_hash).bind(now).fetch_optional(pool).await)?;
        Ok(row)
    }
}
