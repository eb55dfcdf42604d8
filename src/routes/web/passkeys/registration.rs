//! `POST /account/passkeys/begin` and `/finish`: adding a passkey from a signed-in session that
//! signed in recently (`webauthn.recent_sign_in_secs`): a session cookie alone, found on a shared
//! computer, does not let someone plant their own passkey on the account.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post};
use serde::Deserialize;
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::super::WebState;
use super::super::account::record;
use super::reply::{Refusal, credential, ok, read_json};
use super::section::signed_in_recently;
use crate::mfa::passkeys::{Finish, PasskeyName};
use crate::routes::FormBody;
use crate::store::Session;

/// Mounts the registration endpoints.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(begin_registration).service(finish_registration);
}

#[derive(Deserialize)]
struct BeginRequest {
    csrf: String,
}

#[derive(Deserialize)]
struct FinishRequest {
    csrf: String,
    state: String,
    name: String,
    credential: serde_json::Value,
}

/// The session behind a registration request with `csrf`, if it may add a passkey now.
async fn registering_session(
    request: &HttpRequest,
    state: &WebState,
    csrf: &str,
) -> Result<Session, Refusal> {
    let Some(session) = state.session(request).await? else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "you are not signed in",
        ));
    };
    if !state.keys.csrf_matches(&session.handle, csrf) {
        return Err(Refusal::forged());
    }
    if !signed_in_recently(state, &session) {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "sign in again to add a passkey",
        ));
    }
    Ok(session)
}

/// Starts adding a passkey: the options for `navigator.credentials.create` and the sealed state.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/json", description = r#"{"csrf": "<the account page's token>"}"#),
    responses(
        (status = 200, description = r#"{"options": {"publicKey": ...}, "state": "<sealed>"}"#),
        (status = 401, description = r#"{"error": "login_required"}: not signed in, or not recently"#),
        (status = 403, description = "wrong CSRF token"),
        (status = 409, description = "too many passkeys")
    )
)]
#[post("/account/passkeys/begin")]
async fn begin_registration(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let begun = async {
        let form: BeginRequest = read_json(&request, &body)?;
        let session = registering_session(&request, &state, &form.csrf).await?;
        let user = state
            .store
            .find_user_by_id(&session.user_id)
            .await?
            .ok_or_else(|| {
                Refusal::new(StatusCode::UNAUTHORIZED, "login_required", "sign in again")
            })?;
        let existing = state.store.list_passkeys(&user.id).await?;
        let (options, sealed) = state.passkeys.begin_registration(
            &state.keys,
            &user,
            &existing,
            &session.handle,
            state.now(),
        )?;
        Ok::<_, Refusal>(json!({"options": options, "state": sealed}))
    };
    match begun.await {
        Ok(body) => ok(body),
        Err(refusal) => refusal.response(),
    }
}

/// Finishes adding a passkey: verifies the authenticator's answer and stores it under `name`.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/json", description = r#"{"csrf", "state", "name", "credential": <the PublicKeyCredential, binary fields base64url>}"#),
    responses(
        (status = 200, description = r#"{"credential_id": "...", "name": "..."}"#),
        (status = 400, description = "refused, expired or used ceremony, bad name"),
        (status = 401, description = "not signed in, or not recently"),
        (status = 403, description = "wrong CSRF token"),
        (status = 409, description = r#"{"error": "already_registered"} or too many passkeys"#)
    )
)]
#[post("/account/passkeys/finish")]
async fn finish_registration(
    request: HttpRequest,
    state: WebState,
    body: FormBody,
) -> HttpResponse {
    let finished = async {
        let form: FinishRequest = read_json(&request, &body)?;
        let session = registering_session(&request, &state, &form.csrf).await?;
        let name = PasskeyName::parse(&form.name).map_err(Refusal::invalid)?;
        let answer: RegisterPublicKeyCredential = credential(form.credential)?;
        let registered = state
            .passkeys
            .finish_registration(
                &state.store,
                &state.keys,
                Finish {
                    sealed: &form.state,
                    binding: &session.handle,
                    credential: &answer,
                },
                &session.user_id,
                &name,
                state.now(),
            )
            .await?;
        let detail = format!("passkey={}", registered.credential_id);
        record(&state, "passkey.registered", &session, detail).await;
        Ok::<_, Refusal>(json!({
            "credential_id": registered.credential_id,
            "name": registered.name,
        }))
    };
    match finished.await {
        Ok(body) => ok(body),
        Err(refusal) => refusal.response(),
    }
}
