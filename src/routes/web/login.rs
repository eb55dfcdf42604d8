//! The login page: `GET /login` shows the form of the browser's login transaction (starting one
//! for the account page when there is none), `POST /login` checks the password through the same
//! `PasswordCheck` as the password grant.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use secrecy::SecretString;
use utoipa_actix_web::service_config::ServiceConfig;

use super::pages::{Chrome, Scripts, csp_source_of, html_with};
use super::passkeys::passkey_script_path;
use super::signed_in::complete_sign_in;
use super::{WebState, form_parameters};
use crate::domain::{MAX_USERNAME_CHARS, Password};
use crate::mfa::strength::AMR_PASSWORD;
use crate::routes::FormBody;
use crate::signin::flow::display_name;
use crate::signin::{Destination, LoginTransaction, SignInError, Stage, Step};

/// Mounts `/login`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_login).service(submit_login);
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    client_name: Option<String>,
    error: Option<String>,
    csrf: String,
    username: String,
    /// The passkey script's URL, when passkeys are on.
    passkey_script: Option<&'static str>,
}

/// The login form.
#[utoipa::path(tag = "browser", responses((status = 200, description = "HTML login form")))]
#[get("/login")]
async fn show_login(request: HttpRequest, state: WebState) -> HttpResponse {
    let (transaction, new_cookie) = match state.transaction(&request) {
        Some(transaction) if transaction.stage == Stage::Login => (transaction, None),
        // Nothing under way: sign in to the account page.
        _ => {
            let transaction = LoginTransaction::start(
                Destination::Account,
                state.now(),
                state.settings.sessions.login_ttl_secs,
            );
            let cookie = state.transaction_cookie(&transaction);
            (transaction, cookie)
        }
    };
    let hint = transaction
        .request()
        .and_then(|request| request.login_hint.clone())
        .filter(|hint| hint.chars().count() <= MAX_USERNAME_CHARS)
        .unwrap_or_default();
    render(
        &state,
        &transaction,
        StatusCode::OK,
        None,
        hint,
        new_cookie.into_iter().collect(),
    )
    .await
}

/// Checks the username and password, starts a session and moves on.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "username, password, csrf"),
    responses((status = 303, description = "to /consent, /account or the client"), (status = 400, description = "the form again, with an error"), (status = 429, description = "too many failed logins"))
)]
#[post("/login")]
async fn submit_login(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let Some(transaction) = state
        .transaction(&request)
        .filter(|transaction| transaction.stage == Stage::Login)
    else {
        return state.error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in expired or was not started here. Start again from the application.",
        );
    };
    let Some(form) = form_parameters(&body) else {
        return state.error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !form
        .get("csrf")
        .is_some_and(|token| transaction.csrf_matches(token))
    {
        return state.error_page(
            StatusCode::FORBIDDEN,
            "This form does not belong to your sign-in. Start again from the application.",
        );
    }
    let raw_username = form.get("username").unwrap_or_default();
    let typed = raw_username
        .chars()
        .take(MAX_USERNAME_CHARS)
        .collect::<String>();
    let password = Password::parse(SecretString::from(
        form.get("password").unwrap_or_default().to_owned(),
    ));
    let refused = "Invalid username or password.";
    let (Ok(password), true) = (password, raw_username.chars().count() <= MAX_USERNAME_CHARS)
    else {
        let message = Some(refused.to_owned());
        return render(
            &state,
            &transaction,
            StatusCode::BAD_REQUEST,
            message,
            typed,
            Vec::new(),
        )
        .await;
    };
    let client_id = transaction
        .request()
        .map_or_else(String::new, |request| request.client_id.clone());
    let now = state.now();
    let mut check = state.password_check(&request, &client_id);
    let signed_in = match check.sign_in(raw_username, &password, now).await {
        Ok(signed_in) => signed_in,
        Err(SignInError::Refused) => {
            let message = Some(refused.to_owned());
            return render(
                &state,
                &transaction,
                StatusCode::BAD_REQUEST,
                message,
                typed,
                Vec::new(),
            )
            .await;
        }
        Err(SignInError::LockedOut { retry_after }) => {
            let message = format!("Too many failed attempts. Try again in {retry_after} seconds.");
            let mut response = render(
                &state,
                &transaction,
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
                typed,
                Vec::new(),
            )
            .await;
            if let Ok(value) = header::HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Err(SignInError::Unavailable(error)) => {
            log::warn!("sign-in page: {error}");
            return state.error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is busy. Please try again in a moment.",
            );
        }
    };
    let user = signed_in.user;
    let cookies: Vec<String> = signed_in.device_cookie.into_iter().collect();
    // A person with a second factor is not signed in by a password alone.
    let factors = match state.store.second_factors(&user.id).await {
        Ok(factors) => factors,
        Err(error) => return state.unavailable(error),
    };
    if factors.any() {
        let next = transaction.to_second_factor(&user.id, user.token_generation);
        return state.respond(Step::SecondFactor(next), cookies);
    }
    match complete_sign_in(&request, &state, transaction, &user, AMR_PASSWORD, cookies).await {
        Ok((step, cookies)) => state.respond(step, cookies),
        Err(error) => state.unavailable(error),
    }
}

async fn render(
    state: &WebState,
    transaction: &LoginTransaction,
    status: StatusCode,
    error: Option<String>,
    username: String,
    cookies: Vec<String>,
) -> HttpResponse {
    let mut client_name = None;
    let mut form_targets = Vec::new();
    if let Some(request) = transaction.request() {
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
    let page = LoginPage {
        chrome: Chrome::new(&state.settings.pages),
        client_name,
        error,
        csrf: transaction.csrf.clone(),
        username,
        passkey_script: state.passkeys.enabled().then(passkey_script_path),
    };
    let scripts = if page.passkey_script.is_some() {
        Scripts::Passkeys
    } else {
        Scripts::None
    };
    html_with(status, &page, &form_targets, &cookies, scripts)
}
