//! New recovery codes and removing the authenticator app, each after a fresh one-time code.

use actix_web::{HttpRequest, HttpResponse, post};
use utoipa_actix_web::service_config::ServiceConfig;

use super::super::WebState;
use super::super::account::{account_action, record};
use super::super::pages::see_other;
use super::{fresh_code, recovery_codes_page, session_user};
use crate::mfa::recovery_codes::generate_recovery_codes;
use crate::routes::FormBody;

/// Mounts the management forms.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(regenerate_recovery_codes).service(remove_totp);
}

/// Replaces the recovery codes with ten new ones (the old ones stop working) and shows them.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "csrf, otp (a TOTP or recovery code)"),
    responses((status = 200, description = "HTML: the new codes, shown once"), (status = 400, description = "the code is not valid"), (status = 429, description = "too many failed attempts"))
)]
#[post("/account/recovery-codes")]
async fn regenerate_recovery_codes(
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
    let code = form.get("otp").unwrap_or_default();
    if let Err(page) = fresh_code(&request, &state, &user, code).await {
        return page;
    }
    let (codes, hashes) = generate_recovery_codes();
    if let Err(error) = state
        .store
        .replace_recovery_codes(&user.id, &hashes, state.now())
        .await
    {
        return state.unavailable(error);
    }
    record(
        &state,
        "mfa.recovery_codes_regenerated",
        &session,
        format!("codes={}", codes.len()),
    )
    .await;
    recovery_codes_page(&state, None, codes, &[])
}

/// Removes the authenticator app and the recovery codes.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "csrf, otp (a TOTP or recovery code)"),
    responses((status = 303, description = "back to /account"), (status = 400, description = "the code is not valid"), (status = 429, description = "too many failed attempts"))
)]
#[post("/account/totp/remove")]
async fn remove_totp(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, form) = match account_action(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let user = match session_user(&state, &session).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    let code = form.get("otp").unwrap_or_default();
    if let Err(page) = fresh_code(&request, &state, &user, code).await {
        return page;
    }
    match state.store.remove_totp(&user.id).await {
        Ok(true) => record(&state, "mfa.totp_removed", &session, String::new()).await,
        Ok(false) => {}
        Err(error) => return state.unavailable(error),
    }
    see_other("/account", &[])
}
