//! `GET` and `POST /logout`: RP-Initiated Logout 1.0, the `end_session_endpoint`. A relying
//! party whose id_token_hint names the signed-in person ends the session at once; any other
//! request is confirmed by the person first, so a link on another site cannot sign them out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use utoipa_actix_web::service_config::ServiceConfig;

use super::pages::{Chrome, SignedOutPage, csp_source_of, html, see_other};
use super::{PageCookie, WebState, form_parameters, is_form};
use crate::audit::AuditEvent;
use crate::domain::ClientId;
use crate::openid::verify_id_token_hint;
use crate::routes::FormBody;
use crate::signin::RawParameters;
use crate::signin::flow::display_name;
use crate::signin::logout_request::{LogoutRequest, check_logout, client_id_of};
use crate::signin::sessions::end_session;
use crate::store::Session;

/// Mounts `/logout`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(logout_get).service(logout_post);
}

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage {
    chrome: Chrome,
    username: String,
    client_name: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    csrf: String,
}

/// Signs the person out, after a confirmation unless the relying party's id_token_hint names
/// them; then back to the client's registered post-logout URI or a "signed out" page.
#[utoipa::path(
    tag = "browser",
    params(
        ("id_token_hint" = Option<String>, Query), ("client_id" = Option<String>, Query),
        ("post_logout_redirect_uri" = Option<String>, Query), ("state" = Option<String>, Query)
    ),
    responses(
        (status = 200, description = "HTML: the confirmation or the signed-out page"),
        (status = 303, description = "to the registered post_logout_redirect_uri"),
        (status = 400, description = "HTML error page")
    )
)]
#[get("/logout")]
async fn logout_get(request: HttpRequest, state: WebState) -> HttpResponse {
    match RawParameters::parse(request.query_string()) {
        Ok(params) => logout(&request, &state, &params).await,
        Err(message) => state.error_page(StatusCode::BAD_REQUEST, &message),
    }
}

/// As `GET /logout`, with the parameters in a form body; also the confirmation form's target.
#[utoipa::path(
    tag = "browser",
    responses(
        (status = 200, description = "HTML: the confirmation or the signed-out page"),
        (status = 303, description = "to the registered post_logout_redirect_uri"),
        (status = 400, description = "HTML error page")
    )
)]
#[post("/logout")]
async fn logout_post(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let is_form = is_form(&request);
    match form_parameters(&body) {
        Some(params) if is_form || body.is_empty() => logout(&request, &state, &params).await,
        _ => state.error_page(
            StatusCode::BAD_REQUEST,
            "The sign-out form could not be read.",
        ),
    }
}

async fn logout(request: &HttpRequest, state: &WebState, params: &RawParameters) -> HttpResponse {
    let logout = match checked_request(state, params).await {
        Ok(logout) => logout,
        Err(response) => return response,
    };
    let session = match state.session(request).await {
        Ok(session) => session,
        Err(error) => return state.unavailable(error),
    };
    let Some(session) = session else {
        // Nobody is signed in here: nothing to end.
        return signed_out(state, &logout, Vec::new());
    };
    // The confirmation form proves the person asked; a matching hint proves the relying party
    // speaks for them.
    let confirmed = params
        .get("csrf")
        .is_some_and(|token| state.keys.csrf_matches(&session.handle, token));
    if confirmed || logout.speaks_for(&session.user_id, &session.handle) {
        return end_and_leave(request, state, &logout, &session).await;
    }
    confirmation_page(state, &logout, &session).await
}

/// The request's hint, client and post-logout URI, checked; an error page otherwise.
async fn checked_request(
    state: &WebState,
    params: &RawParameters,
) -> Result<LogoutRequest, HttpResponse> {
    let bad_request = |message: &str| state.error_page(StatusCode::BAD_REQUEST, message);
    let hinted = match params.get("id_token_hint") {
        None => None,
        Some(hint) => match verify_id_token_hint(&state.tokens, hint) {
            Some(hinted) => Some(hinted),
            None => {
                return Err(bad_request(
                    "The sign-out request's id_token_hint was not issued by this server.",
                ));
            }
        },
    };
    let client_id = client_id_of(params, hinted.as_ref()).map_err(|m| bad_request(&m))?;
    let client = match client_id.as_deref().map(ClientId::parse) {
        Some(Ok(id)) => match state.cache.client(&state.store, &id).await {
            Ok(client) => client,
            Err(error) => return Err(state.unavailable(error)),
        },
        _ => None,
    };
    check_logout(params, hinted, client_id, client.as_deref()).map_err(|m| bad_request(&m))
}

async fn confirmation_page(
    state: &WebState,
    logout: &LogoutRequest,
    session: &Session,
) -> HttpResponse {
    let username = match state.cache.user(&state.store, &session.user_id).await {
        Ok(Some(user)) => user.username,
        Ok(None) => session.user_id.clone(),
        Err(error) => return state.unavailable(error),
    };
    let client_name = match logout.client_id.as_deref().map(ClientId::parse) {
        Some(Ok(id)) => match state.cache.client(&state.store, &id).await {
            Ok(client) => client.as_deref().map(display_name),
            Err(error) => return state.unavailable(error),
        },
        _ => None,
    };
    let page = ConfirmPage {
        chrome: Chrome::new(&state.settings.pages),
        username,
        client_name,
        client_id: logout.client_id.clone(),
        post_logout_redirect_uri: logout.post_logout_redirect_uri.clone(),
        state: logout.state.clone(),
        csrf: state.keys.csrf_token(&session.handle),
    };
    // The form's answer redirects to the client's URI: CSP form-action must allow it.
    let targets: Vec<String> = logout
        .post_logout_redirect_uri
        .as_deref()
        .and_then(csp_source_of)
        .into_iter()
        .collect();
    html(StatusCode::OK, &page, &targets, &[])
}

async fn end_and_leave(
    request: &HttpRequest,
    state: &WebState,
    logout: &LogoutRequest,
    session: &Session,
) -> HttpResponse {
    let secure = state.secure();
    let cookie = PageCookie::Session.read(request, secure);
    let ended = end_session(
        &state.store,
        &state.cache,
        &state.settings,
        cookie.as_deref(),
    );
    if let Err(error) = ended.await {
        return state.unavailable(error);
    }
    let username = match state.cache.user(&state.store, &session.user_id).await {
        Ok(Some(user)) => user.username,
        _ => session.user_id.clone(),
    };
    let mut event = AuditEvent::new("session.ended")
        .actor(username)
        .ip(state.ip.clone())
        .detail(format!("session={} logout", session.handle));
    if let Some(client_id) = &logout.client_id {
        event = event.client(client_id);
    }
    state.audit.record(event).await;
    signed_out(state, logout, vec![PageCookie::Session.clear(secure)])
}

/// The client's registered post-logout URI with its `state`, or authd's "signed out" page.
fn signed_out(state: &WebState, logout: &LogoutRequest, cookies: Vec<String>) -> HttpResponse {
    match logout.return_to() {
        Some(location) => see_other(&location, &cookies),
        None => {
            let page = SignedOutPage {
                chrome: Chrome::new(&state.settings.pages),
            };
            html(StatusCode::OK, &page, &[], &cookies)
        }
    }
}
