//! Setting up an authenticator app: the password again, then the QR code with the new secret
//! sealed in the form, then the first code, which stores it, makes ten recovery codes and
//! renews the session as a multi-factor one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use secrecy::SecretString;
use utoipa_actix_web::service_config::ServiceConfig;

use super::super::account::{account_action, record};
use super::super::pages::{Chrome, html, see_other};
use super::super::{PageCookie, WebState};
use super::{locked_out, recovery_codes_page, session_user};
use crate::domain::Password;
use crate::mfa::recovery_codes::generate_recovery_codes;
use crate::mfa::strength::AMR_PASSWORD_OTP;
use crate::mfa::totp::{PendingEnrolment, TotpSecret, matching_step, otpauth_uri, qr_svg};
use crate::routes::FormBody;
use crate::signin::SignInError;
use crate::signin::sessions::renew_session;
use crate::store::{Session, StoreError, TotpEnrolment, User};

/// Mounts the set-up pages.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_totp_setup)
        .service(submit_totp_password)
        .service(confirm_totp);
}

#[derive(Template)]
#[template(path = "totp_password.html")]
struct PasswordPage {
    chrome: Chrome,
    error: Option<String>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "totp_setup.html")]
struct SetupPage {
    chrome: Chrome,
    error: Option<String>,
    csrf: String,
    pending: String,
    secret: String,
    uri: String,
    qr_svg: String,
}

fn password_page(
    state: &WebState,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let page = PasswordPage {
        chrome: Chrome::new(&state.settings.pages),
        error: error.map(str::to_owned),
        csrf: state.keys.csrf_token(&session.handle),
    };
    html(status, &page, &[], &[])
}

/// The QR code page for `secret`, whose sealed form value is `pending`.
fn setup_page(
    state: &WebState,
    session: &Session,
    user: &User,
    secret: &TotpSecret,
    pending: String,
    error: Option<&str>,
) -> HttpResponse {
    let uri = otpauth_uri(&state.settings.pages.product_name, &user.username, secret);
    let Some(qr_svg) = qr_svg(&uri) else {
        log::error!(
            "the otpauth URI of {} does not fit a QR code",
            user.username
        );
        return state.error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side.",
        );
    };
    let page = SetupPage {
        chrome: Chrome::new(&state.settings.pages),
        error: error.map(str::to_owned),
        csrf: state.keys.csrf_token(&session.handle),
        pending,
        secret: secret.to_base32(),
        uri,
        qr_svg,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    html(status, &page, &[], &[])
}

/// Whether the user has an authenticator already (then there is nothing to set up).
async fn has_totp(state: &WebState, user: &User) -> Result<bool, StoreError> {
    Ok(state.store.find_totp(&user.id).await?.is_some())
}

/// The password re-entry form that starts setting up an authenticator app.
#[utoipa::path(tag = "browser", responses((status = 200, description = "HTML password form"), (status = 303, description = "to /account")))]
#[get("/account/totp/setup")]
async fn show_totp_setup(request: HttpRequest, state: WebState) -> HttpResponse {
    let session = match state.session(&request).await {
        Ok(Some(session)) => session,
        Ok(None) => return see_other("/account", &[]),
        Err(error) => return state.unavailable(error),
    };
    let user = match session_user(&state, &session).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    match has_totp(&state, &user).await {
        Ok(true) => see_other("/account", &[]),
        Ok(false) => password_page(&state, &session, StatusCode::OK, None),
        Err(error) => state.unavailable(error),
    }
}

/// Checks the password again (counted towards the lockout) and shows a new secret as a QR code.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "csrf, password"),
    responses((status = 200, description = "HTML: the QR code and the confirmation form"), (status = 400, description = "wrong password"), (status = 429, description = "too many failed attempts"))
)]
#[post("/account/totp/setup")]
async fn submit_totp_password(
    request: HttpRequest,
    state: WebState,
    body: FormBody,
) -> HttpResponse {
    let (session, form) = match account_action(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let user = match session_user(&state, &session).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    let refused = "Wrong password.";
    let Ok(password) = Password::parse(SecretString::from(
        form.get("password").unwrap_or_default().to_owned(),
    )) else {
        return password_page(&state, &session, StatusCode::BAD_REQUEST, Some(refused));
    };
    let now = state.now();
    let mut check = state.password_check(&request, "");
    match check.sign_in(&user.username, &password, now).await {
        // The session's own user, by construction: the username came from the session.
        Ok(signed_in) if signed_in.user.id == user.id => {}
        Ok(_) | Err(SignInError::Refused) => {
            return password_page(&state, &session, StatusCode::BAD_REQUEST, Some(refused));
        }
        Err(SignInError::LockedOut { retry_after }) => {
            return locked_out(&state, u64::try_from(retry_after).unwrap_or(1));
        }
        Err(SignInError::Unavailable(error)) => {
            log::warn!("account page: {error}");
            return state.error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is busy. Please try again in a moment.",
            );
        }
    }
    match has_totp(&state, &user).await {
        Ok(false) => {}
        Ok(true) => return see_other("/account", &[]),
        Err(error) => return state.unavailable(error),
    }
    let (pending, secret) = PendingEnrolment::start(&user.id, &session.handle, now);
    let Some(sealed) = pending.seal(&state.keys) else {
        return state.error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side.",
        );
    };
    setup_page(&state, &session, &user, &secret, sealed, None)
}

/// Stores the authenticator once its first code is right, shows ten recovery codes once, and
/// renews the session as a password-and-code one.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "csrf, pending (the sealed new secret), otp"),
    responses((status = 200, description = "HTML: the recovery codes, shown once"), (status = 400, description = "the QR code page again: wrong code, or the set-up expired"))
)]
#[post("/account/totp/confirm")]
async fn confirm_totp(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, form) = match account_action(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let user = match session_user(&state, &session).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    let now = state.now();
    let sealed = form.get("pending").unwrap_or_default();
    let Some(secret) = PendingEnrolment::open(&state.keys, sealed, &user.id, &session.handle, now)
    else {
        return state.error_page(
            StatusCode::BAD_REQUEST,
            "This set-up expired or belongs to another session. Start again from your account page.",
        );
    };
    let code: String = form
        .get("otp")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    // Only the person holding this session has seen this secret: a wrong code here guesses
    // nothing, so it is not counted; the code just proves the app is set up right.
    let Some(step) = matching_step(&secret, &code, now) else {
        let message =
            "That code is not right. Check the time on your device and try the next code.";
        return setup_page(
            &state,
            &session,
            &user,
            &secret,
            sealed.to_owned(),
            Some(message),
        );
    };
    let sealed_secret = match state.sealer.seal(&secret, &user.id) {
        Ok(sealed_secret) => sealed_secret,
        Err(error) => return state.unavailable(StoreError::Other(error)),
    };
    let (codes, hashes) = generate_recovery_codes();
    let enrolment = TotpEnrolment {
        user_id: &user.id,
        sealed_secret: &sealed_secret,
        // The confirming code is used: it cannot sign in afterwards.
        accepted_step: step,
        recovery_code_hashes: &hashes,
        now,
    };
    match state.store.enrol_totp(&enrolment).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return see_other("/account", &[]),
        Err(error) => return state.unavailable(error),
    }
    record(&state, "mfa.totp_enrolled", &session, String::new()).await;
    // The person has just proved password and code: the session becomes multi-factor, with a
    // new cookie value (no fixation) and the same handle (relying parties keep its sid).
    let old_cookie = PageCookie::Session.read(&request, state.secure());
    let renewed = renew_session(
        &state.store,
        &state.cache,
        &state.settings.sessions,
        old_cookie.as_deref(),
        &user,
        AMR_PASSWORD_OTP,
        now,
    )
    .await;
    let cookies = match renewed {
        Ok(Some(started)) => vec![PageCookie::Session.set(
            state.secure(),
            &started.cookie_value,
            state.settings.sessions.absolute_secs,
        )],
        Ok(None) => Vec::new(),
        Err(error) => return state.unavailable(error),
    };
    let message = Some("Your authenticator app is set up.".to_owned());
    recovery_codes_page(&state, message, codes, &cookies)
}
