//! The account page's passkey forms (no JavaScript): rename and delete.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post};
use utoipa_actix_web::service_config::ServiceConfig;

use super::super::WebState;
use super::super::account::{account_action, record};
use super::super::pages::see_other;
use crate::mfa::passkeys::PasskeyName;
use crate::routes::FormBody;

/// Mounts the forms.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(rename_passkey).service(delete_passkey);
}

/// Renames one of the person's passkeys.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "csrf, credential_id, name"),
    responses((status = 303, description = "back to /account"), (status = 400, description = "HTML: the name is not acceptable"))
)]
#[post("/account/passkeys/rename")]
async fn rename_passkey(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, form) = match account_action(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let credential_id = form.get("credential_id").unwrap_or_default();
    let name = match PasskeyName::parse(form.get("name").unwrap_or_default()) {
        Ok(name) => name,
        Err(problem) => {
            return state.error_page(
                StatusCode::BAD_REQUEST,
                &format!("The passkey was not renamed: {problem}."),
            );
        }
    };
    match state
        .store
        .rename_passkey(&session.user_id, credential_id, name.as_str())
        .await
    {
        Ok(true) => {
            let detail = format!("passkey={credential_id:.256}");
            record(&state, "passkey.renamed", &session, detail).await;
        }
        Ok(false) => {}
        Err(error) => return state.unavailable(error),
    }
    see_other("/account#passkeys", &[])
}

/// Deletes one of the person's passkeys.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "csrf, credential_id"),
    responses((status = 303, description = "back to /account"))
)]
#[post("/account/passkeys/delete")]
async fn delete_passkey(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, form) = match account_action(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let credential_id = form.get("credential_id").unwrap_or_default();
    match state
        .store
        .delete_passkey(&session.user_id, credential_id)
        .await
    {
        Ok(true) => {
            let detail = format!("passkey={credential_id:.256}");
            record(&state, "passkey.deleted", &session, detail).await;
        }
        Ok(false) => {}
        Err(error) => return state.unavailable(error),
    }
    see_other("/account#passkeys", &[])
}
