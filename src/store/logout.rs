//! Ending browser sessions, and the Back-Channel Logout queue that ending them fills.
//!
//! Every way a session ends (sign-out, the account page, the admin API, a password change, a
//! disable, a deletion) goes through `end_sessions_in!`, in the caller's one write transaction:
//! queue a delivery per client the session signed into that has a back-channel URI, delete the
//! session's refresh families that are not offline (OpenID Connect Core section 11), revoke its
//! access tokens by `sid`, delete the session. Its unredeemed codes die with it: redeeming one
//! needs the session (`store::authorization_codes`).
//!
//! What can a stranger make this queue grow by? Nothing: only a signed-in session's end queues
//! rows, at most one per client it signed into (registered clients only), and each row leaves
//! when delivered or given up (`logout.backchannel_give_up_secs`).
//!
//! Times in `logout_deliveries` are Unix milliseconds.

use sqlx::FromRow;

use super::{BeginWrite, Store, StoreError, with_pool, with_write};

/// Which sessions to end.
#[derive(Clone, Copy, Debug)]
pub enum SessionSelection<'a> {
    /// The one whose cookie has this SHA-256 (hex).
    Cookie(&'a str),
    /// One of a user's sessions, by its public handle.
    Handle {
        /// The user.
        user_id: &'a str,
        /// The handle.
        handle: &'a str,
    },
    /// Every session of a user.
    User(&'a str),
    /// A user's oldest sessions beyond their `keep` newest, never the one just started (a
    /// sign-in ends the oldest).
    BeyondNewest {
        /// The user.
        user_id: &'a str,
        /// The session just started (its cookie hash), always kept.
        started: &'a str,
        /// How many to keep, that one included.
        keep: u32,
    },
}

impl SessionSelection<'_> {
    pub(super) fn condition(&self) -> String {
        match self {
            Self::Cookie(_) => "id_hash = $1".into(),
            Self::Handle { .. } => "user_id = $1 and handle = $2".into(),
            Self::User(_) => "user_id = $1".into(),
            // `keep` is a number from the settings, never caller text.
            // Sessions started in the same second tie on created_at: the new one is kept by name.
            Self::BeyondNewest { keep, .. } => format!(
                "user_id = $1 and id_hash <> $2 and id_hash not in (select id_hash from sessions \
                 where user_id = $1 and id_hash <> $2 order by created_at desc, id_hash limit {})",
                keep.saturating_sub(1)
            ),
        }
    }

    pub(super) fn binds(&self) -> (&str, Option<&str>) {
        match *self {
            Self::Cookie(id_hash) => (id_hash, None),
            Self::Handle { user_id, handle } => (user_id, Some(handle)),
            Self::User(user_id) => (user_id, None),
            Self::BeyondNewest {
                user_id, started, ..
            } => (user_id, Some(started)),
        }
    }
}

/// A session that was ended.
#[derive(Debug, Clone, FromRow)]
pub struct EndedSession {
    /// SHA-256 (hex) of its cookie, to drop it from the cache.
    pub id_hash: String,
    /// Its public handle (`sid`).
    pub handle: String,
    /// Whose it was.
    pub user_id: String,
}

/// When sessions end and what their access tokens need.
#[derive(Clone, Copy, Debug)]
pub struct SessionEnding {
    /// Now, Unix milliseconds (the deliveries' creation and first due time).
    pub now_ms: i64,
    /// Until when `sid:<handle>` must stay revoked (the last access token's `exp` plus leeway);
    /// `None` when the caller ends the user's access tokens otherwise (a new token generation).
    pub revoke_access_until: Option<i64>,
}

/// One queued back-channel logout notification.
#[derive(Debug, Clone, FromRow)]
pub struct LogoutDelivery {
    /// Row id.
    pub id: String,
    /// `aud` of the logout token.
    pub client_id: String,
    /// The client's registration when the session ended.
    pub client_registration: String,
    /// Where to POST it.
    pub uri: String,
    /// `sub`.
    pub user_id: String,
    /// `sid`.
    pub session_handle: String,
    /// When the session ended (ms).
    pub created_at: i64,
    /// When the next attempt is due (ms); also the lease a claim holds.
    pub due_at: i64,
    /// Attempts so far.
    pub attempts: i32,
}

/// One row per (session, client with a back-channel URI); the id makes a second enqueue of the
/// same pair a no-op.
pub(super) const QUEUE_DELIVERIES: &str = r"insert into logout_deliveries
    (id, client_id, client_registration, uri, user_id, session_handle, created_at, due_at, attempts)
    select sc.session_handle || ' ' || c.client_id, c.client_id, c.registration,
           c.backchannel_logout_uri, $2, sc.session_handle, $3, $3, 0
    from session_clients sc join clients c on c.client_id = sc.client_id
    where sc.session_handle = $1 and c.backchannel_logout_uri is not null
    on conflict (id) do nothing";

/// Ends the sessions `$selection` names on `$tx` (inside a write transaction); `$lock` is
/// `Store::row_lock()`. Evaluates to `Result<Vec<EndedSession>, sqlx::Error>`.
macro_rules! end_sessions_in {
    ($tx:expr, $lock:expr, $selection:expr, $ending:expr) => {
        async {
            let selection: $crate::store::SessionSelection<'_> = $selection;
            let ending: $crate::store::SessionEnding = $ending;
            let sql = format!(
                "select id_hash, handle, user_id from sessions where {}{}",
                selection.condition(),
                $lock
            );
            let (first, second) = selection.binds();
            let mut query = sqlx::query_as::<_, $crate::store::EndedSession>(&sql).bind(first);
            if let Some(second) = second {
                query = query.bind(second);
            }
            let ended = query.fetch_all(&mut *$tx).await?;
            for session in &ended {
                sqlx::query($crate::store::logout::QUEUE_DELIVERIES)
                    .bind(&session.handle)
                    .bind(&session.user_id)
                    .bind(ending.now_ms)
                    .execute(&mut *$tx)
                    .await?;
                // By user (an indexed column): families of the session, except offline ones.
                sqlx::query(
                    r"delete from refresh_families
                      where user_id = $1 and session_handle = $2 and not offline",
                )
                .bind(&session.user_id)
                .bind(&session.handle)
                .execute(&mut *$tx)
                .await?;
                if let Some(until) = ending.revoke_access_until {
                    sqlx::query(
                        r"insert into revoked_access_tokens (jti, expires_at, revoked_at_ms)
                          values ($1, $2, $3) on conflict (jti) do nothing",
                    )
                    .bind($crate::store::logout::sid_revocation(&session.handle))
                    .bind(until)
                    .bind(ending.now_ms)
                    .execute(&mut *$tx)
                    .await?;
                }
                sqlx::query(r"delete from sessions where id_hash = $1")
                    .bind(&session.id_hash)
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok::<_, sqlx::Error>(ended)
        }
    };
}
pub(crate) use end_sessions_in;

/// The revocation-feed key that ends every access token of a session.
pub fn sid_revocation(handle: &str) -> String {
    format!("sid:{handle}")
}

impl Store {
    /// The clause that locks selected rows against a concurrent writer: PostgreSQL needs it (a
    /// session's row must be locked before its clients are read, or a code issued meanwhile
    /// could add a client after the read); SQLite's write transactions are already serial and
    /// it has no such syntax.
    pub(super) fn row_lock(&self) -> &'static str {
        match self {
            Store::Postgres(_) => " for update",
            Store::Sqlite(_) => "",
        }
    }

    /// Ends the selected sessions in one write transaction (see the module comment); returns
    /// those that existed.
    pub async fn end_sessions(
        &self,
        selection: SessionSelection<'_>,
        ending: SessionEnding,
    ) -> Result<Vec<EndedSession>, StoreError> {
        let lock = self.row_lock();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let ended = end_sessions_in!(tx, lock, selection, ending).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(ended)
        }.await)
    }

    /// Deliveries due at `now_ms`, oldest first, at most `limit`.
    pub async fn due_logout_deliveries(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<LogoutDelivery>, StoreError> {
        let rows = with_pool!(self, pool =>
            sqlx::query_as(
                r"select id, client_id, client_registration, uri, user_id, session_handle,
                         created_at, due_at, attempts
                  from logout_deliveries where due_at <= $1 order by due_at, id limit $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// Claims a delivery until `lease_until` (ms): true for exactly one of several instances
    /// that read it due at `seen_due_at`.
    pub async fn claim_logout_delivery(
        &self,
        id: &str,
        seen_due_at: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let claimed = with_write!(self, pool =>
            sqlx::query(r"update logout_deliveries set due_at = $3 where id = $1 and due_at = $2")
                .bind(id)
                .bind(seen_due_at)
                .bind(lease_until)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(claimed == 1)
    }

    /// Schedules another attempt at `due_at` (ms), recording why this one failed.
    pub async fn retry_logout_delivery(
        &self,
        id: &str,
        due_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(
                r"update logout_deliveries set due_at = $2, attempts = attempts + 1, last_error = $3
                  where id = $1",
            )
            .bind(id)
            .bind(due_at)
            .bind(error)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Removes a delivery (delivered, or given up).
    pub async fn remove_logout_delivery(&self, id: &str) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(r"delete from logout_deliveries where id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Every queued delivery, oldest first (for tests and operators).
    pub async fn list_logout_deliveries(&self) -> Result<Vec<LogoutDelivery>, StoreError> {
        let rows = with_pool!(self, pool =>
            sqlx::query_as(
                r"select id, client_id, client_registration, uri, user_id, session_handle,
                         created_at, due_at, attempts
                  from logout_deliveries order by created_at, id",
            )
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }
}
