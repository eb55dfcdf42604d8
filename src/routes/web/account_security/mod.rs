//! The "Second factors" section of `/account`: setting up an authenticator app (after a fresh
//! password re-entry, confirmed by its first code), new recovery codes and removal (each after a
//! fresh one-time code). Every form carries the account page's CSRF token.

mod manage;
mod setup;

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::http::{StatusCode, header::HeaderValue};
use askama::Template;
use utoipa_actix_web::service_config::ServiceConfig;

use super::WebState;
use super::pages::{Chrome, html};
use crate::mfa::OneTimeCodeError;
use crate::store::{Session, User};

/// Mounts the second-factor routes of the account page.
pub fn configure(cfg: &mut ServiceConfig) {
    setup::configure(cfg);
    manage::configure(cfg);
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    chrome: Chrome,
    message: Option<String>,
    codes: Vec<String>,
}

/// The page that shows new recovery codes, the only time they are shown.
fn recovery_codes_page(
    state: &WebState,
    message: Option<String>,
    codes: Vec<String>,
    cookies: &[String],
) -> HttpResponse {
    let page = RecoveryCodesPage {
        chrome: Chrome::new(&state.settings.pages),
        message,
        codes,
    };
    html(StatusCode::OK, &page, &[], cookies)
}

/// The signed-in user of `session`, or the page saying why not.
async fn session_user(state: &WebState, session: &Session) -> Result<User, HttpResponse> {
    match state.store.find_user_by_id(&session.user_id).await {
        Ok(Some(user)) if !user.disabled => Ok(user),
        Ok(_) => Err(state.error_page(
            StatusCode::FORBIDDEN,
            "This account cannot be changed. Sign in again.",
        )),
        Err(error) => Err(state.unavailable(error)),
    }
}

/// Checks the form's fresh one-time code for `user` (counted towards the lockout); the page
/// saying why not when it is refused.
async fn fresh_code(
    request: &HttpRequest,
    state: &WebState,
    user: &User,
    code: &str,
) -> Result<(), HttpResponse> {
    let now = state.now();
    let mut check = state.one_time_code_check(request, user, "");
    match check.check(user, code, now).await {
        Ok(_) => Ok(()),
        Err(OneTimeCodeError::Refused) => Err(state.error_page(
            StatusCode::BAD_REQUEST,
            "That code is not valid (or was already used). Go back to your account page and try \
             again with a new code.",
        )),
        Err(OneTimeCodeError::LockedOut { retry_after }) => Err(locked_out(state, retry_after)),
        Err(OneTimeCodeError::Unavailable(error)) => Err(state.unavailable(error)),
    }
}

/// The 429 page for a lockout, with `Retry-After`.
fn locked_out(state: &WebState, retry_after: u64) -> HttpResponse {
    let mut response = state.error_page(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Too many failed attempts. Try again in {retry_after} seconds."),
    );
    if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
