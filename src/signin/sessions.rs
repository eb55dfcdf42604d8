//! Single sign-on sessions: started by a sign-in, found by the cookie's hash, touched at most
//! once a minute, ended by sign-out, a timeout, a password change or the admin API.

use crate::clock::{unix_now, unix_now_ms};
use crate::config::{SessionSettings, Settings};
use crate::credential_cache::CredentialCache;
use crate::credentials::{generate_secret, hash_secret};
use crate::store::{
    EndedSession, NewSession, RefreshFamily, Session, SessionEnding, SessionSelection, Store,
    StoreError, User, sid_revocation,
};

/// Seconds between writes of `last_seen_at` for one session: single sign-on stays a read.
const TOUCH_EVERY_SECS: i64 = 60;

/// A session just started: the cookie value (secret) and its public handle.
#[derive(Debug)]
pub struct StartedSession {
    /// Goes into the session cookie, and nowhere else.
    pub cookie_value: String,
    /// The stored session.
    pub session: Session,
}

/// Starts a session for `user` who signed in with `amr` just now; the user's oldest sessions
/// beyond `sessions.max_per_user` end.
pub async fn start_session(
    store: &Store,
    cache: &CredentialCache,
    all_settings: &Settings,
    user: &User,
    amr: &str,
    ip: Option<&str>,
    now: i64,
) -> Result<StartedSession, StoreError> {
    let settings = &all_settings.sessions;
    let (user_id, user_generation) = (user.id.as_str(), user.token_generation);
    let cookie_value = generate_secret();
    let handle = uuid::Uuid::new_v4().simple().to_string();
    let expires_at = now + settings.absolute_secs as i64;
    let id_hash = hash_secret(&cookie_value);
    let new = NewSession {
        id_hash: &id_hash,
        handle: &handle,
        user_id,
        user_generation,
        amr,
        now,
        expires_at,
        ip,
    };
    let (ending, until) = ending(all_settings);
    let ended = store
        .create_session(&new, settings.max_per_user, ending)
        .await?;
    forget_ended(cache, &ended, until);
    Ok(StartedSession {
        cookie_value,
        session: Session {
            handle,
            user_id: user_id.to_owned(),
            user_generation,
            auth_time: now,
            amr: amr.to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            ip: ip.map(str::to_owned),
        },
    })
}

/// The same person signing in again in this browser (`prompt=login`, `max_age`): the session
/// keeps its handle, the `sid` that relying parties and session-bound tokens hold, and gets a
/// new cookie value (no session fixation) and a new `auth_time`. `None` when the browser's
/// session is not a live one of `user`: then end it and start a new one.
pub async fn renew_session(
    store: &Store,
    cache: &CredentialCache,
    settings: &SessionSettings,
    old_cookie_value: Option<&str>,
    user: &User,
    amr: &str,
    now: i64,
) -> Result<Option<StartedSession>, StoreError> {
    let Some(old_id_hash) = id_hash_of(old_cookie_value) else {
        return Ok(None);
    };
    let cookie_value = generate_secret();
    let renewed = store
        .renew_session(
            &old_id_hash,
            &hash_secret(&cookie_value),
            &user.id,
            user.token_generation,
            amr,
            now,
            settings.idle_secs as i64,
        )
        .await?;
    cache.forget_session(&old_id_hash);
    Ok(renewed.map(|session| StartedSession {
        cookie_value,
        session,
    }))
}

/// The stored hash of a session cookie's value; `None` for a value no session can have.
fn id_hash_of(cookie_value: Option<&str>) -> Option<String> {
    cookie_value
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .map(hash_secret)
}

/// The live session a cookie value names, marked as used. Read from the cache when another
/// request read it within `ENTRY_TTL` (so an end on another instance counts within that).
pub async fn current_session(
    store: &Store,
    cache: &CredentialCache,
    settings: &SessionSettings,
    cookie_value: Option<&str>,
    now: i64,
) -> Result<Option<Session>, StoreError> {
    let Some(id_hash) = id_hash_of(cookie_value) else {
        return Ok(None);
    };
    let idle_secs = settings.idle_secs as i64;
    let session = match cache.session(&id_hash) {
        Some(session) => Some(session),
        None => {
            let found = store.find_live_session(&id_hash, now, idle_secs).await?;
            if let Some(session) = &found {
                cache.remember_session(&id_hash, session.clone());
            }
            found
        }
    };
    let Some(mut session) = session else {
        return Ok(None);
    };
    // The timeouts are checked here too: a cached copy may have passed one since it was read.
    if session.expires_at <= now || session.last_seen_at <= now - idle_secs {
        cache.forget_session(&id_hash);
        return Ok(None);
    }
    if session.last_seen_at < now - TOUCH_EVERY_SECS {
        store
            .touch_session(&session.handle, now, TOUCH_EVERY_SECS)
            .await?;
        session.last_seen_at = now;
        cache.remember_session(&id_hash, session.clone());
    }
    Ok(Some(session))
}

/// Ends the selected sessions (see `Store::end_sessions`: their clients are told, their
/// refresh tokens that are not offline and their access tokens end) and drops them from this
/// instance's cache; other instances learn of it through the revocation feed.
pub async fn end_sessions(
    store: &Store,
    cache: &CredentialCache,
    settings: &Settings,
    selection: SessionSelection<'_>,
) -> Result<Vec<EndedSession>, StoreError> {
    let (ending, until) = ending(settings);
    let ended = store.end_sessions(selection, ending).await?;
    forget_ended(cache, &ended, until);
    Ok(ended)
}

/// Ending sessions now, and until when their access tokens stay revoked.
fn ending(settings: &Settings) -> (SessionEnding, i64) {
    // The last access token issued under a session expires by then (leeway included).
    let until = unix_now() + (settings.tokens.access_ttl_secs + settings.tokens.leeway_secs) as i64;
    let ending = SessionEnding {
        now_ms: unix_now_ms(),
        revoke_access_until: Some(until),
    };
    (ending, until)
}

/// This instance forgets ended sessions and refuses their access tokens at once.
fn forget_ended(cache: &CredentialCache, ended: &[EndedSession], until: i64) {
    for session in ended {
        cache.forget_session(&session.id_hash);
        cache.mark_revoked(&sid_revocation(&session.handle), until);
    }
}

/// Ends the session a cookie value names; returns it when there was one.
pub async fn end_session(
    store: &Store,
    cache: &CredentialCache,
    settings: &Settings,
    cookie_value: Option<&str>,
) -> Result<Option<EndedSession>, StoreError> {
    match id_hash_of(cookie_value) {
        Some(id_hash) => {
            let ended =
                end_sessions(store, cache, settings, SessionSelection::Cookie(&id_hash)).await?;
            Ok(ended.into_iter().next())
        }
        None => Ok(None),
    }
}

/// Whether a refresh family may still be used as far as its session goes: a family without a
/// session (password grant) or an offline one always; one bound to a session only while that
/// session is live (within both timeouts, its user's generation unchanged). With `keep_alive`
/// (a refresh, not an introspection) the use keeps the session alive, touched at most once a
/// minute as single sign-on does. One indexed lookup.
pub async fn family_session_is_live(
    store: &Store,
    settings: &SessionSettings,
    family: &RefreshFamily,
    now: i64,
    keep_alive: bool,
) -> Result<bool, StoreError> {
    let Some(handle) = family.session_handle.as_deref().filter(|_| !family.offline) else {
        return Ok(true);
    };
    let Some(session) = store.find_session_by_handle(handle).await? else {
        return Ok(false);
    };
    let live = session.expires_at > now
        && session.last_seen_at > now - settings.idle_secs as i64
        && session.user_generation == family.user_generation;
    if keep_alive && live && session.last_seen_at < now - TOUCH_EVERY_SECS {
        store.touch_session(handle, now, TOUCH_EVERY_SECS).await?;
    }
    Ok(live)
}
