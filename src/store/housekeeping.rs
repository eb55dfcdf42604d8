//! Queries for the in-memory revocation set and the janitor.

use super::{Store, StoreError, with_pool, with_write};

/// Rows the janitor deleted, per table.
#[derive(Debug, Default, Clone, Copy)]
pub struct Swept {
    /// Expired refresh tokens (every family member past expiry).
    pub refresh_families: u64,
    /// Revoked access token ids past the token's own expiry.
    pub revoked_access_tokens: u64,
    /// Failed-login counters neither locked nor recent.
    pub login_failures: u64,
    /// Sign-in addresses older than the guess-budget window.
    pub login_addresses: u64,
    /// Audit events past retention.
    pub audit_events: u64,
    /// Browser sessions past either timeout.
    pub sessions: u64,
    /// Authorization codes an hour past expiry (kept that long so a late replay still revokes).
    pub authorization_codes: u64,
    /// Answered WebAuthn challenges past their ceremony's expiry (no replay can pass then).
    pub webauthn_challenges: u64,
    /// Sealed refresh successors past their retry window (cleared, not deleted).
    pub refresh_retries: u64,
    /// Used markers of pushed authorization requests whose request_uri has expired.
    pub pushed_requests: u64,
    /// DPoP proofs seen at /token, past their window (no replay can pass then).
    pub dpop_proofs: u64,
    /// Device codes (RFC 8628) past expiry, whatever became of them.
    pub device_codes: u64,
}

/// How long a redeemed or expired code is kept, to recognise its replay.
const CODE_REPLAY_MEMORY_SECS: i64 = 3600;

impl Store {
    /// Revoked access tokens (jti, exp) recorded at or after `since_ms` and not yet expired.
    pub async fn revocations_since(
        &self,
        since_ms: i64,
        now: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool =>
            sqlx::query_as(
                r"select jti, expires_at from revoked_access_tokens
                  where revoked_at_ms >= $1 and expires_at > $2",
            )
            .bind(since_ms)
            .bind(now)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// Deletes what no request can need any more.
    pub async fn sweep(
        &self,
        now: i64,
        failure_window_secs: i64,
        audit_cutoff_ms: i64,
        session_idle_secs: i64,
    ) -> Result<Swept, StoreError> {
        let run = |sql: &'static str, bind: i64| async move {
            with_write!(self, pool =>
                sqlx::query(sql)
                    .bind(bind)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected()))
        };
        Ok(Swept {
            refresh_families: run(r"delete from refresh_families where expires_at < $1", now)
                .await?,
            revoked_access_tokens: run(
                r"delete from revoked_access_tokens where expires_at < $1",
                now,
            )
            .await?,
            // Quiet for a whole window and not locked: nothing left to remember.
            login_failures: with_write!(self, pool =>
                sqlx::query(r"delete from login_failures where updated_at < $1 and locked_until < $2")
                    .bind(now - failure_window_secs.max(0))
                    .bind(now)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected()))?,
            login_addresses: run(
                r"delete from login_addresses where last_success < $1",
                now - failure_window_secs.max(0),
            )
            .await?,
            audit_events: run(
                r"delete from audit_events where at_ms < $1",
                audit_cutoff_ms,
            )
            .await?,
            sessions: with_write!(self, pool =>
                sqlx::query(r"delete from sessions where expires_at < $1 or last_seen_at < $2")
                    .bind(now)
                    .bind(now - session_idle_secs)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected()))?,
            authorization_codes: run(
                r"delete from authorization_codes where expires_at < $1",
                now - CODE_REPLAY_MEMORY_SECS,
            )
            .await?,
            webauthn_challenges: run(
                r"delete from webauthn_challenges_used where expires_at < $1",
                now,
            )
            .await?,
            refresh_retries: self.clear_refresh_retries(now).await?,
            // An expired request_uri is refused anyway: its marker has nothing left to stop.
            pushed_requests: run(
                r"delete from pushed_requests_used where expires_at < $1",
                now,
            )
            .await?,
            dpop_proofs: run(r"delete from dpop_proofs where expires_at < $1", now).await?,
            // An expired device code answers nothing but expired_token; the polling client
            // gives up then (RFC 8628 section 3.5), and a later poll gets invalid_grant.
            device_codes: run(r"delete from device_codes where expires_at < $1", now).await?,
        })
    }

    /// Connections open and idle in the pool.
    pub fn pool_usage(&self) -> (u32, usize) {
        with_pool!(self, pool => (pool.size(), pool.num_idle()))
    }
}
