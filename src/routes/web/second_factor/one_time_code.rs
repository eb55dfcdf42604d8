//! `/login/second-factor`: the first factor is done; a code from the person's authenticator app
//! (or a recovery code) finishes the sign-in. Passkeys finish it through the passkey ceremony.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use utoipa_actix_web::service_config::ServiceConfig;

use super::super::pages::{Chrome, Scripts, csp_source_of, html, html_with};
use super::super::passkeys::passkey_script_path;
use super::super::signed_in::complete_sign_in;
use super::super::{WebState, form_parameters};
use crate::mfa::strength::AMR_PASSWORD_OTP;
use crate::mfa::{OneTimeCode, OneTimeCodeError};
use crate::routes::FormBody;
use crate::signin::flow::display_name;
use crate::signin::{LoginTransaction, Stage};
use crate::store::{SecondFactors, User};

/// Mounts `/login/second-factor`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_second_factor)
        .service(submit_second_factor);
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    chrome: Chrome,
    username: String,
    client_name: Option<String>,
    error: Option<String>,
    csrf: String,
    one_time_code: bool,
    passkeys: bool,
    /// The passkey script's URL, when the person has a passkey and passkeys are on.
    passkey_script: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "recovery_code_used.html")]
struct RecoveryCodeUsedPage {
    chrome: Chrome,
    left: i64,
    next: String,
}

/// A transaction waiting for a second factor, with its user as they are now.
struct Waiting {
    transaction: LoginTransaction,
    user: User,
    factors: SecondFactors,
}

/// The transaction at the second factor and its user, or the page saying why not. A user who
/// was disabled, or whose password changed, since the first factor starts again.
async fn waiting(request: &HttpRequest, state: &WebState) -> Result<Waiting, HttpResponse> {
    let expired = || {
        state.error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in expired or was not started here. Start again from the application.",
        )
    };
    let transaction = state.transaction(request).ok_or_else(expired)?;
    let Stage::SecondFactor {
        user_id,
        user_generation,
    } = &transaction.stage
    else {
        return Err(expired());
    };
    let user = match state.store.find_user_by_id(user_id).await {
        Ok(Some(user)) if !user.disabled && user.token_generation == *user_generation => user,
        Ok(_) => return Err(expired()),
        Err(error) => return Err(state.unavailable(error)),
    };
    let factors = match state.store.second_factors(&user.id).await {
        Ok(factors) => factors,
        Err(error) => return Err(state.unavailable(error)),
    };
    Ok(Waiting {
        transaction,
        user,
        factors,
    })
}

/// The second-factor form.
#[utoipa::path(tag = "browser", responses((status = 200, description = "HTML second-factor form")))]
#[get("/login/second-factor")]
async fn show_second_factor(request: HttpRequest, state: WebState) -> HttpResponse {
    match waiting(&request, &state).await {
        Ok(waiting) => render(&state, &waiting, StatusCode::OK, None).await,
        Err(page) => page,
    }
}

/// Checks the code and finishes the sign-in.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "otp, csrf"),
    responses((status = 303, description = "to /consent, /account or the client"), (status = 400, description = "the form again, with an error"), (status = 429, description = "too many failed attempts"))
)]
#[post("/login/second-factor")]
async fn submit_second_factor(
    request: HttpRequest,
    state: WebState,
    body: FormBody,
) -> HttpResponse {
    let waiting = match waiting(&request, &state).await {
        Ok(waiting) => waiting,
        Err(page) => return page,
    };
    let Some(form) = form_parameters(&body) else {
        return state.error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !form
        .get("csrf")
        .is_some_and(|token| waiting.transaction.csrf_matches(token))
    {
        return state.error_page(
            StatusCode::FORBIDDEN,
            "This form does not belong to your sign-in. Start again from the application.",
        );
    }
    let code = form.get("otp").unwrap_or_default();
    let client_id = waiting
        .transaction
        .request()
        .map_or("", |request| request.client_id.as_str());
    // Single use, counted towards the lockout: see `mfa::OneTimeCodeCheck`.
    let mut check = state.one_time_code_check(&request, &waiting.user, client_id);
    let recovery_codes_left = match check.check(&waiting.user, code, state.now()).await {
        Ok(OneTimeCode::Totp) => None,
        Ok(OneTimeCode::RecoveryCode { left }) => Some(left),
        Err(OneTimeCodeError::Refused) => {
            let message = "That code is not valid. Try the next one your app shows.";
            return render(&state, &waiting, StatusCode::BAD_REQUEST, Some(message)).await;
        }
        Err(OneTimeCodeError::LockedOut { retry_after }) => {
            let message = format!("Too many failed attempts. Try again in {retry_after} seconds.");
            let mut response = render(
                &state,
                &waiting,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&message),
            )
            .await;
            if let Ok(value) = header::HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Err(OneTimeCodeError::Unavailable(error)) => return state.unavailable(error),
    };
    let Waiting {
        transaction, user, ..
    } = waiting;
    let (step, mut cookies) = match complete_sign_in(
        &request,
        &state,
        transaction,
        &user,
        AMR_PASSWORD_OTP,
        Vec::new(),
    )
    .await
    {
        Ok(done) => done,
        Err(error) => return state.unavailable(error),
    };
    let Some(left) = recovery_codes_left else {
        return state.respond(step, cookies);
    };
    // The person is told how many recovery codes remain before going on.
    let next = match state.next_location(step, &mut cookies) {
        Ok(next) => next,
        Err(message) => return state.error_page(StatusCode::BAD_REQUEST, &message),
    };
    let page = RecoveryCodeUsedPage {
        chrome: Chrome::new(&state.settings.pages),
        left,
        next,
    };
    html(StatusCode::OK, &page, &[], &cookies)
}

async fn render(
    state: &WebState,
    waiting: &Waiting,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let mut client_name = None;
    let mut form_targets = Vec::new();
    if let Some(request) = waiting.transaction.request() {
        let client = state
            .cache
            .client_named(&state.store, &request.client_id)
            .await
            .ok()
            .flatten();
        client_name =
            Some(client.map_or_else(|| request.client_id.clone(), |client| display_name(&client)));
        form_targets.extend(csp_source_of(request.deliver_to.uri()));
    }
    let page = SecondFactorPage {
        chrome: Chrome::new(&state.settings.pages),
        username: waiting.user.username.clone(),
        client_name,
        error: error.map(str::to_owned),
        csrf: waiting.transaction.csrf.clone(),
        one_time_code: waiting.factors.totp || waiting.factors.recovery_codes_left > 0,
        passkeys: waiting.factors.passkeys > 0,
        passkey_script: (waiting.factors.passkeys > 0 && state.passkeys.enabled())
            .then(passkey_script_path),
    };
    let scripts = if page.passkey_script.is_some() {
        Scripts::Passkeys
    } else {
        Scripts::None
    };
    html_with(status, &page, &form_targets, &[], scripts)
}
