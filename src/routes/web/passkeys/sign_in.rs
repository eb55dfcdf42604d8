//! `POST /login/passkey/begin` and `/finish`: "Sign in with a passkey" on the login page (the
//! usernameless ceremony), and a passkey as the second factor after a password. It belongs to the
//! browser's login transaction (its CSRF token, and the sealed state is bound to it), and
//! finishing it is a whole multi-factor sign-in (`pop mfa`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post};
use serde::Deserialize;
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use webauthn_rs::prelude::PublicKeyCredential;

use super::super::WebState;
use super::super::signed_in::complete_sign_in;
use super::reply::{Refusal, credential, no_store, ok, read_json};
use crate::audit::AuditEvent;
use crate::mfa::passkeys::{Finish, PasskeyError};
use crate::mfa::strength::AMR_PASSKEY;
use crate::routes::FormBody;
use crate::signin::{LoginTransaction, Stage};
use crate::store::User;

/// Mounts the sign-in endpoints.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(begin_sign_in).service(finish_sign_in);
}

#[derive(Deserialize)]
struct BeginRequest {
    csrf: String,
}

#[derive(Deserialize)]
struct FinishRequest {
    csrf: String,
    state: String,
    credential: serde_json::Value,
}

/// The answer for a sign-in that cannot go on (expired, moved on, or from elsewhere).
fn expired() -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "expired_ceremony",
        "this sign-in expired or was not started here; reload the page",
    )
}

/// The browser's login transaction, if `csrf` is its token and it waits for a passkey: at the
/// login form (anyone's passkey), or at the second factor (only that user's).
fn signing_in(
    request: &HttpRequest,
    state: &WebState,
    csrf: &str,
) -> Result<LoginTransaction, Refusal> {
    let transaction = state
        .transaction(request)
        .filter(|transaction| {
            matches!(transaction.stage, Stage::Login | Stage::SecondFactor { .. })
        })
        .ok_or_else(expired)?;
    if !transaction.csrf_matches(csrf) {
        return Err(Refusal::forged());
    }
    Ok(transaction)
}

/// Starts a passkey sign-in: the options for `navigator.credentials.get` and the sealed state.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/json", description = r#"{"csrf": "<the login form's token>"}"#),
    responses(
        (status = 200, description = r#"{"options": {"publicKey": ...}, "state": "<sealed>"}"#),
        (status = 400, description = "no login transaction under way"),
        (status = 403, description = "wrong CSRF token"),
        (status = 404, description = "passkeys are not enabled")
    )
)]
#[post("/login/passkey/begin")]
async fn begin_sign_in(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let begun = (|| {
        let form: BeginRequest = read_json(&request, &body)?;
        let transaction = signing_in(&request, &state, &form.csrf)?;
        let (options, sealed) =
            state
                .passkeys
                .begin_sign_in(&state.keys, &transaction.csrf, state.now())?;
        Ok::<_, Refusal>(json!({"options": options, "state": sealed}))
    })();
    match begun {
        Ok(body) => ok(body),
        Err(refusal) => refusal.response(),
    }
}

/// Finishes a passkey sign-in: verifies the assertion, starts (or renews) the session, and says
/// where the browser goes next.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/json", description = r#"{"csrf", "state", "credential": <the PublicKeyCredential, binary fields base64url>}"#),
    responses(
        (status = 200, description = r#"{"location": "<where to go next>"}, with the session cookie"#),
        (status = 400, description = r#"{"error": "passkey_refused" | "expired_ceremony" | "ceremony_used" | "invalid_request"}"#),
        (status = 403, description = "wrong CSRF token")
    )
)]
#[post("/login/passkey/finish")]
async fn finish_sign_in(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let finished = async {
        let form: FinishRequest = read_json(&request, &body)?;
        let transaction = signing_in(&request, &state, &form.csrf)?;
        let answer: PublicKeyCredential = credential(form.credential)?;
        // After a password, the passkey must be that person's, and their password unchanged.
        let (expected_user, expected_generation) = match &transaction.stage {
            Stage::SecondFactor {
                user_id,
                user_generation,
            } => (Some(user_id.as_str()), Some(*user_generation)),
            _ => (None, None),
        };
        let result = state
            .passkeys
            .finish_sign_in(
                &state.store,
                &state.keys,
                Finish {
                    sealed: &form.state,
                    binding: &transaction.csrf,
                    credential: &answer,
                },
                expected_user,
                state.now(),
            )
            .await;
        let signed_in = match result {
            Ok(signed_in) => signed_in,
            Err(error) => {
                audit_refusal(&state, &error).await;
                return Err(error.into());
            }
        };
        if expected_generation
            .is_some_and(|generation| generation != signed_in.user.token_generation)
        {
            return Err(expired());
        }
        signed_in_with_passkey(&request, &state, transaction, &signed_in.user).await
    };
    match finished.await {
        Ok(response) => response,
        Err(refusal) => refusal.response(),
    }
}

/// Audits a cloned passkey. Other refusals are only logged: anyone can start a ceremony and
/// send rubbish, and that must not grow the audit trail.
async fn audit_refusal(state: &WebState, error: &PasskeyError) {
    let PasskeyError::Cloned {
        user_id,
        credential_id,
    } = error
    else {
        log::info!("passkey sign-in refused: {error}");
        return;
    };
    let username = match state.store.find_user_by_id(user_id).await {
        Ok(Some(user)) => user.username,
        _ => user_id.clone(),
    };
    log::warn!("passkey {credential_id} of {username}: its counter did not grow (cloned?)");
    let event = AuditEvent::new("passkey.cloned")
        .actor(username)
        .ip(state.ip.clone())
        .detail(format!("passkey={credential_id}"));
    state.audit.record(event).await;
}

/// The browser is signed in as `user` with a passkey: `complete_sign_in` (session, audit, the
/// transaction's next step), answered as JSON `{"location"}` with the cookies.
async fn signed_in_with_passkey(
    request: &HttpRequest,
    state: &WebState,
    transaction: LoginTransaction,
    user: &User,
) -> Result<HttpResponse, Refusal> {
    let (step, mut cookies) =
        complete_sign_in(request, state, transaction, user, AMR_PASSKEY, Vec::new()).await?;
    let location = state
        .next_location(step, &mut cookies)
        .map_err(Refusal::invalid)?;
    let mut response = no_store(HttpResponse::Ok());
    for cookie in &cookies {
        response.append_header((header::SET_COOKIE, cookie.as_str()));
    }
    Ok(response.json(json!({ "location": location })))
}
