//! Browser sessions, by the SHA-256 of their cookie value.

use sqlx::FromRow;

use super::{
    BeginWrite, EndedSession, SessionEnding, SessionSelection, Store, StoreError, end_sessions_in,
    with_pool, with_write,
};

/// A signed-in browser.
#[derive(Debug, Clone, FromRow)]
pub struct Session {
    /// Public handle for listing and ending it (never the cookie value).
    pub handle: String,
    /// Whose session it is.
    pub user_id: String,
    /// The user's token generation at sign-in (a live session's equals the user's current one).
    pub user_generation: i64,
    /// When they last proved who they are.
    pub auth_time: i64,
    /// How, space-delimited RFC 8176 values.
    pub amr: String,
    /// When it started.
    pub created_at: i64,
    /// When it was last used (to the minute: touches are throttled).
    pub last_seen_at: i64,
    /// The absolute timeout.
    pub expires_at: i64,
    /// Where it signed in from.
    pub ip: Option<String>,
}

/// A session to store.
#[derive(Debug)]
pub struct NewSession<'a> {
    /// SHA-256 (hex) of the cookie value.
    pub id_hash: &'a str,
    /// Public handle.
    pub handle: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// The user's token generation when they signed in.
    pub user_generation: i64,
    /// RFC 8176 methods.
    pub amr: &'a str,
    /// Sign-in time.
    pub now: i64,
    /// The absolute timeout.
    pub expires_at: i64,
    /// The caller's address.
    pub ip: Option<&'a str>,
}

const SESSION_COLUMNS: &str = "s.handle, s.user_id, s.user_generation, s.auth_time, s.amr, s.created_at, s.last_seen_at, s.expires_at, s.ip";

impl Store {
    /// Stores a session and ends the user's oldest ones beyond `max_per_user`, as every session
    /// ends (`Store::end_sessions`); returns those.
    pub async fn create_session(
        &self,
        new: &NewSession<'_>,
        max_per_user: u32,
        ending: SessionEnding,
    ) -> Result<Vec<EndedSession>, StoreError> {
        let lock = self.row_lock();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                r"insert into sessions (id_hash, handle, user_id, user_generation, auth_time, amr,
                    created_at, last_seen_at, expires_at, ip)
                  values ($1, $2, $3, $4, $5, $6, $5, $5, $7, $8)",
            )
            .bind(new.id_hash)
            .bind(new.handle)
            .bind(new.user_id)
            .bind(new.user_generation)
            .bind(new.now)
            .bind(new.amr)
            .bind(new.expires_at)
            .bind(new.ip)
            .execute(&mut *tx)
            .await?;
            let oldest = SessionSelection::BeyondNewest {
                user_id: new.user_id,
                started: new.id_hash,
                keep: max_per_user,
            };
            let ended = end_sessions_in!(tx, lock, oldest, ending).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(ended)
        }.await)
    }

    /// The live session with this cookie hash: within both timeouts, its user enabled and
    /// without a password change since sign-in.
    pub async fn find_live_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_secs: i64,
    ) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "select {SESSION_COLUMNS} from sessions s join users u on u.id = s.user_id
             where s.id_hash = $1 and s.expires_at > $2 and s.last_seen_at > $3
               and not u.disabled and u.token_generation = s.user_generation"
        );
        let row = with_pool!(self, pool =>
            sqlx::query_as(&sql)
                .bind(id_hash)
                .bind(now)
                .bind(now - idle_secs)
                .fetch_optional(pool)
                .await)?;
        Ok(row)
    }

    /// Gives the live session of `user_id` with cookie hash `old_id_hash` a new cookie hash and
    /// a new sign-in (`auth_time`, `amr`), keeping its handle; `None` when there is no such
    /// session.
    #[allow(clippy::too_many_arguments)]
    pub async fn renew_session(
        &self,
        old_id_hash: &str,
        new_id_hash: &str,
        user_id: &str,
        user_generation: i64,
        amr: &str,
        now: i64,
        idle_secs: i64,
    ) -> Result<Option<Session>, StoreError> {
        let row = with_write!(self, pool =>
            sqlx::query_as(
                r"update sessions set id_hash = $2, auth_time = $5, amr = $6, last_seen_at = $5
                  where id_hash = $1 and user_id = $3 and user_generation = $4
                    and expires_at > $5 and last_seen_at > $7
                  returning handle, user_id, user_generation, auth_time, amr, created_at,
                            last_seen_at, expires_at, ip",
            )
            .bind(old_id_hash)
            .bind(new_id_hash)
            .bind(user_id)
            .bind(user_generation)
            .bind(now)
            .bind(amr)
            .bind(now - idle_secs)
            .fetch_optional(pool)
            .await)?;
        Ok(row)
    }

    /// The session with this handle, live or not (the caller checks): one lookup by a unique
    /// index, for refresh tokens bound to a session.
    pub async fn find_session_by_handle(
        &self,
        handle: &str,
    ) -> Result<Option<Session>, StoreError> {
        let sql = format!("select {SESSION_COLUMNS} from sessions s where s.handle = $1");
        let row = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(handle).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Records use of a session, at most once per `granularity` seconds (a write per request
    /// would make single sign-on as costly as a sign-in).
    pub async fn touch_session(
        &self,
        handle: &str,
        now: i64,
        granularity: i64,
    ) -> Result<(), StoreError> {
        with_write!(self, pool =>
            sqlx::query(r"update sessions set last_seen_at = $2 where handle = $1 and last_seen_at < $3")
                .bind(handle)
                .bind(now)
                .bind(now - granularity)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// The user's live sessions, newest first.
    pub async fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
        idle_secs: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let sql = format!(
            "select {SESSION_COLUMNS} from sessions s join users u on u.id = s.user_id
             where s.user_id = $1 and s.expires_at > $2 and s.last_seen_at > $3
               and u.token_generation = s.user_generation
             order by s.created_at desc, s.handle"
        );
        let rows = with_pool!(self, pool =>
            sqlx::query_as(&sql)
                .bind(user_id)
                .bind(now)
                .bind(now - idle_secs)
                .fetch_all(pool)
                .await)?;
        Ok(rows)
    }
}
