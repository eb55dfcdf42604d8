//! `/account`: who is signed in, their sessions, consents (each revocable) and passkeys, and
//! sign-out.
//! Every form carries a CSRF token bound to the session (HMAC of its handle).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use utoipa_actix_web::service_config::ServiceConfig;

use super::pages::{Chrome, Scripts, SignedOutPage, html, html_with, see_other};
use super::passkeys::{PasskeySection, passkey_section};
use super::{PageCookie, WebState};
use crate::audit::AuditEvent;
use crate::clock::rfc3339;
use crate::routes::FormBody;
use crate::signin::sessions::{end_session, end_sessions};
use crate::signin::{Destination, LoginTransaction, RawParameters, Stage, Step};
use crate::store::{SecondFactors, Session, SessionSelection};

/// Mounts `/account` and its actions.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_account)
        .service(end_one_session)
        .service(revoke_consent)
        .service(sign_out);
}

struct SessionLine {
    handle: String,
    created_at: String,
    last_seen_at: String,
    ip: Option<String>,
    current: bool,
}

struct ConsentLine {
    client_id: String,
    scopes: String,
    granted_at: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    username: String,
    message: Option<String>,
    sessions: Vec<SessionLine>,
    consents: Vec<ConsentLine>,
    passkeys: PasskeySection,
    second_factors: SecondFactors,
    csrf: String,
    /// The CSRF token of a sign-in that waits for this session to enrol a second factor.
    enrolling: Option<String>,
}

/// The account page, or the login form first.
#[utoipa::path(tag = "browser", responses((status = 200, description = "HTML account page"), (status = 303, description = "to /login")))]
#[get("/account")]
async fn show_account(request: HttpRequest, state: WebState) -> HttpResponse {
    let session = match state.session(&request).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            let transaction = LoginTransaction::start(
                Destination::Account,
                state.now(),
                state.settings.sessions.login_ttl_secs,
            );
            return state.respond(Step::Login(transaction), Vec::new());
        }
        Err(error) => return state.unavailable(error),
    };
    let idle = state.settings.sessions.idle_secs as i64;
    let loaded = async {
        let user = state.store.find_user_by_id(&session.user_id).await?;
        let sessions = state
            .store
            .list_user_sessions(&session.user_id, state.now(), idle)
            .await?;
        let consents = state.store.list_consents(&session.user_id).await?;
        let passkeys = state.store.list_passkeys(&session.user_id).await?;
        let second_factors = state.store.second_factors(&session.user_id).await?;
        Ok::<_, crate::store::StoreError>((user, sessions, consents, passkeys, second_factors))
    };
    let (user, sessions, consents, passkeys, second_factors) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return state.unavailable(error),
    };
    let page = AccountPage {
        chrome: Chrome::new(&state.settings.pages),
        username: user.map(|u| u.username).unwrap_or_default(),
        message: None,
        sessions: sessions
            .into_iter()
            .map(|s| SessionLine {
                current: s.handle == session.handle,
                handle: s.handle,
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                ip: s.ip,
            })
            .collect(),
        consents: consents
            .into_iter()
            .map(|c| ConsentLine {
                client_id: c.client_id,
                scopes: c.scopes.to_string(),
                granted_at: rfc3339(c.granted_at),
            })
            .collect(),
        passkeys: passkey_section(&state, &session, passkeys),
        second_factors,
        csrf: state.keys.csrf_token(&session.handle),
        enrolling: state
            .transaction(&request)
            .filter(|t| matches!(&t.stage, Stage::Enrol { session_handle } if *session_handle == session.handle))
            .map(|t| t.csrf),
    };
    let scripts = if page.passkeys.script.is_some() {
        Scripts::Passkeys
    } else {
        Scripts::None
    };
    html_with(StatusCode::OK, &page, &[], &[], scripts)
}

/// The session and form of a CSRF-protected account action, or the page saying why not.
pub(super) async fn account_action(
    request: &HttpRequest,
    state: &WebState,
    body: &[u8],
) -> Result<(Session, RawParameters), HttpResponse> {
    state
        .session_form(
            request,
            body,
            "/account",
            "This form does not belong to your session. Reload the account page.",
        )
        .await
}

/// Records an account action of `session`'s user in the audit trail.
pub(super) async fn record(
    state: &WebState,
    action: &'static str,
    session: &Session,
    detail: String,
) {
    let username = match state.store.find_user_by_id(&session.user_id).await {
        Ok(Some(user)) => user.username,
        _ => session.user_id.clone(),
    };
    let event = AuditEvent::new(action)
        .actor(username)
        .ip(state.ip.clone())
        .detail(detail);
    state.audit.record(event).await;
}

/// Ends one of the person's sessions.
#[utoipa::path(tag = "browser", responses((status = 303, description = "back to /account")))]
#[post("/account/sessions/end")]
async fn end_one_session(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, form) = match account_action(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let handle = form.get("session").unwrap_or_default();
    let selection = SessionSelection::Handle {
        user_id: &session.user_id,
        handle,
    };
    match end_sessions(&state.store, &state.cache, &state.settings, selection).await {
        Ok(ended) if !ended.is_empty() => {
            record(
                &state,
                "session.ended",
                &session,
                format!("session={handle}"),
            )
            .await
        }
        Ok(_) => {}
        Err(error) => return state.unavailable(error),
    }
    see_other("/account", &[])
}

/// Withdraws a consent and the refresh tokens it produced.
#[utoipa::path(tag = "browser", responses((status = 303, description = "back to /account")))]
#[post("/account/consents/revoke")]
async fn revoke_consent(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, form) = match account_action(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let client_id = form.get("client_id").unwrap_or_default();
    match state
        .store
        .revoke_consent(&session.user_id, client_id)
        .await
    {
        Ok(true) => {
            record(
                &state,
                "consent.revoked",
                &session,
                format!("client={client_id}"),
            )
            .await
        }
        Ok(false) => {}
        Err(error) => return state.unavailable(error),
    }
    see_other("/account", &[])
}

/// Ends this browser's session.
#[utoipa::path(tag = "browser", responses((status = 200, description = "HTML: signed out")))]
#[post("/account/signout")]
async fn sign_out(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, _) = match account_action(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let secure = state.secure();
    let cookie = PageCookie::Session.read(&request, secure);
    if let Err(error) = end_session(
        &state.store,
        &state.cache,
        &state.settings,
        cookie.as_deref(),
    )
    .await
    {
        return state.unavailable(error);
    }
    record(
        &state,
        "session.ended",
        &session,
        format!("session={}", session.handle),
    )
    .await;
    let page = SignedOutPage {
        chrome: Chrome::new(&state.settings.pages),
    };
    html(
        StatusCode::OK,
        &page,
        &[],
        &[PageCookie::Session.clear(secure)],
    )
}
