//! A sign-in that has passed every factor it needs: it becomes a session (the browser's own one
//! renewed, or a new one), and the login transaction moves on. The password form, the
//! second-factor form and the passkey ceremony all end here.

use actix_web::HttpRequest;

use super::{PageCookie, WebState};
use crate::audit::AuditEvent;
use crate::signin::sessions::{StartedSession, end_session, renew_session, start_session};
use crate::signin::{LoginTransaction, Step};
use crate::store::{StoreError, User};

/// Signs `user` in with the methods `amr` for `transaction`: the next step, and the cookies to
/// set (`cookies` plus the session's).
pub(super) async fn complete_sign_in(
    request: &HttpRequest,
    state: &WebState,
    transaction: LoginTransaction,
    user: &User,
    amr: &str,
    mut cookies: Vec<String>,
) -> Result<(Step, Vec<String>), StoreError> {
    let now = state.now();
    let started = session_after_sign_in(request, state, user, amr, now).await?;
    let client_id = transaction
        .request()
        .map_or_else(String::new, |request| request.client_id.clone());
    let event = AuditEvent::new("session.started")
        .actor(&user.username)
        .client(&client_id)
        .ip(state.ip.clone())
        .detail(format!("session={} amr={amr}", started.session.handle));
    state.audit.record(event).await;
    cookies.push(PageCookie::Session.set(
        state.secure(),
        &started.cookie_value,
        state.settings.sessions.absolute_secs,
    ));
    let step = state
        .flow()
        .after_sign_in(transaction, &started.session)
        .await?;
    Ok((step, cookies))
}

/// The session a sign-in leaves: the browser's own session renewed when it is this person's
/// (relying parties keep its `sid` and tokens), else a new one, whatever session the browser had
/// ending first. Either way the cookie value is new: no session fixation.
async fn session_after_sign_in(
    request: &HttpRequest,
    state: &WebState,
    user: &User,
    amr: &str,
    now: i64,
) -> Result<StartedSession, StoreError> {
    let old_cookie = PageCookie::Session.read(request, state.secure());
    let renewed = renew_session(
        &state.store,
        &state.cache,
        &state.settings.sessions,
        old_cookie.as_deref(),
        user,
        amr,
        now,
    )
    .await?;
    if let Some(renewed) = renewed {
        return Ok(renewed);
    }
    end_session(
        &state.store,
        &state.cache,
        &state.settings,
        old_cookie.as_deref(),
    )
    .await?;
    start_session(
        &state.store,
        &state.cache,
        &state.settings,
        user,
        amr,
        state.ip.as_deref(),
        now,
    )
    .await
}
