//! `/device` (RFC 8628 section 3.3): a signed-in person enters the user code a device shows,
//! sees which client asks for which scopes, and allows or denies. The login page comes first
//! when there is no session (with the second factor the person's roles demand); the
//! confirmation always comes, whatever the session or earlier consents.
//!
//! Every form carries the session-bound CSRF token of the account page. Each code entered, on
//! either form, is one guess against the address's budget (`device::UserCodeGuesses`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use super::WebState;
use super::pages::{Chrome, html};
use crate::device::approval::UNKNOWN_CODE;
use crate::device::{DeviceApproval, UserCode, UserCodeGuesses};
use crate::routes::FormBody;
use crate::signin::{Destination, LoginTransaction, RawParameters, Step};
use crate::store::Session;

/// Mounts `/device` and `/device/decision`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_device)
        .service(submit_user_code)
        .service(decide_device);
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    chrome: Chrome,
    username: String,
    user_code: String,
    error: Option<String>,
    csrf: String,
}

struct ScopeLine {
    name: String,
    description: Option<String>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    client_name: String,
    client_id: String,
    username: String,
    user_code: String,
    scopes: Vec<ScopeLine>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage {
    chrome: Chrome,
    title: &'static str,
    message: &'static str,
}

/// `verification_uri_complete`'s parameter.
#[derive(Deserialize)]
struct DeviceQuery {
    user_code: Option<String>,
}

/// The code entry page, or the login form (or a second factor) first.
#[utoipa::path(
    tag = "browser",
    params(("user_code" = Option<String>, Query, description = "prefills the code (from verification_uri_complete)")),
    responses((status = 200, description = "HTML: enter the device's code"), (status = 303, description = "to /login first"))
)]
#[get("/device")]
async fn show_device(
    request: HttpRequest,
    state: WebState,
    query: Option<web::Query<DeviceQuery>>,
) -> HttpResponse {
    let prefill = query
        .and_then(|query| query.into_inner().user_code)
        .and_then(|typed| UserCode::parse(&typed));
    let session = match signed_in(&request, &state, prefill.as_ref()).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let typed = prefill.map(|code| code.display()).unwrap_or_default();
    entry_page(&state, &session, StatusCode::OK, typed, None).await
}

/// Checks the code entered and shows what the device asks for.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "user_code, csrf"),
    responses((status = 200, description = "HTML: allow or deny"), (status = 400, description = "the form again: unknown code"), (status = 429, description = "too many wrong codes"))
)]
#[post("/device")]
async fn submit_user_code(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, form) = match device_form(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let typed = form.get("user_code").unwrap_or_default();
    let shown: String = typed.chars().take(32).collect();
    let Some(code) = UserCode::parse(typed) else {
        let message = "Enter the eight letters your device shows, like BCDF-GHJK.";
        return entry_page(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            shown,
            Some(message),
        )
        .await;
    };
    let approval = approval(&state);
    match guessed(&state, &approval, &code).await {
        Ok(true) => {}
        Ok(false) => {
            return entry_page(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                shown,
                Some(UNKNOWN_CODE),
            )
            .await;
        }
        Err(response) => return response,
    }
    let asked = match approval.request(&code, &session).await {
        Ok(Ok(asked)) => asked,
        Ok(Err(message)) => return state.error_page(StatusCode::BAD_REQUEST, &message),
        Err(error) => return state.unavailable(error),
    };
    let page = ConfirmPage {
        chrome: Chrome::new(&state.settings.pages),
        client_name: asked.client_name,
        client_id: asked.client_id,
        username: username(&state, &session).await,
        user_code: code.display(),
        scopes: asked
            .scopes
            .into_iter()
            .map(|(name, description)| ScopeLine { name, description })
            .collect(),
        csrf: state.keys.csrf_token(&session.handle),
    };
    html(StatusCode::OK, &page, &[], &[])
}

/// Records the person's decision on the device.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "user_code, decision=allow|deny, csrf"),
    responses((status = 200, description = "HTML: the device is connected, or was refused"), (status = 400, description = "HTML error page: unknown, expired or used code"))
)]
#[post("/device/decision")]
async fn decide_device(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (session, form) = match device_form(&request, &state, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let allow = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return state.error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    };
    let Some(code) = form.get("user_code").and_then(UserCode::parse) else {
        return state.error_page(StatusCode::BAD_REQUEST, UNKNOWN_CODE);
    };
    let approval = approval(&state);
    match guessed(&state, &approval, &code).await {
        Ok(true) => {}
        Ok(false) => return state.error_page(StatusCode::BAD_REQUEST, UNKNOWN_CODE),
        Err(response) => return response,
    }
    match approval.decide(&code, &session, allow).await {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return state.error_page(StatusCode::BAD_REQUEST, &message),
        Err(error) => return state.unavailable(error),
    }
    let page = if allow {
        DonePage {
            chrome: Chrome::new(&state.settings.pages),
            title: "Device connected",
            message: "You can close this page and go back to your device.",
        }
    } else {
        DonePage {
            chrome: Chrome::new(&state.settings.pages),
            title: "Device refused",
            message: "The device was not given access. You can close this page.",
        }
    };
    html(StatusCode::OK, &page, &[], &[])
}

/// The browser's session, strong enough for the person's roles; otherwise the response that
/// leads there (the login form, a second factor, enrolment), back to `/device` with `prefill`.
async fn signed_in(
    request: &HttpRequest,
    state: &WebState,
    prefill: Option<&UserCode>,
) -> Result<Session, HttpResponse> {
    let prefill = prefill.map(|code| code.as_str().to_owned());
    let session = match state.session(request).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            let transaction = LoginTransaction::start(
                Destination::Device(prefill),
                state.now(),
                state.settings.sessions.login_ttl_secs,
            );
            return Err(state.respond(Step::Login(transaction), Vec::new()));
        }
        Err(error) => return Err(state.unavailable(error)),
    };
    match state.flow().device_strength(&session, prefill).await {
        Ok(None) => Ok(session),
        Ok(Some(step)) => Err(state.respond(step, Vec::new())),
        Err(error) => Err(state.unavailable(error)),
    }
}

/// The session and form of a CSRF-protected `/device` post, or the response saying why not.
async fn device_form(
    request: &HttpRequest,
    state: &WebState,
    body: &[u8],
) -> Result<(Session, RawParameters), HttpResponse> {
    let (_, form) = state
        .session_form(
            request,
            body,
            "/device",
            "This form does not belong to your session. Open the device page again.",
        )
        .await?;
    // A second factor demanded since the page was shown is demanded here too.
    let session = signed_in(request, state, None).await?;
    Ok((session, form))
}

fn approval(state: &WebState) -> DeviceApproval<'_> {
    DeviceApproval {
        store: &state.store,
        cache: &state.cache,
        settings: &state.settings,
        audit: &state.audit,
        ip: state.ip.clone(),
        now: state.now(),
    }
}

/// Whether `code` is pending, as one guess from the address's budget: `Err` is the response
/// when the budget is spent (429 with `Retry-After`) or storage failed.
async fn guessed(
    state: &WebState,
    approval: &DeviceApproval<'_>,
    code: &UserCode,
) -> Result<bool, HttpResponse> {
    let guesses = UserCodeGuesses::new(
        &state.store,
        &state.lockout,
        state.ip.as_deref(),
        state.settings.oauth.device_user_code_attempts,
    );
    let now = state.now();
    let checked = async {
        if let Err(retry_after) = guesses.reserve(now).await? {
            return Ok(Err(retry_after));
        }
        let pending = approval.is_pending(code).await?;
        guesses.settle(pending, now).await?;
        Ok::<_, crate::store::StoreError>(Ok(pending))
    };
    match checked.await {
        Ok(Ok(pending)) => Ok(pending),
        Ok(Err(retry_after)) => {
            let message = format!(
                "Too many wrong codes from your network. Try again in {retry_after} seconds."
            );
            let mut response = state.error_page(StatusCode::TOO_MANY_REQUESTS, &message);
            if let Ok(value) = header::HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Err(response)
        }
        Err(error) => Err(state.unavailable(error)),
    }
}

async fn entry_page(
    state: &WebState,
    session: &Session,
    status: StatusCode,
    user_code: String,
    error: Option<&str>,
) -> HttpResponse {
    let page = DevicePage {
        chrome: Chrome::new(&state.settings.pages),
        username: username(state, session).await,
        user_code,
        error: error.map(str::to_owned),
        csrf: state.keys.csrf_token(&session.handle),
    };
    html(status, &page, &[], &[])
}

async fn username(state: &WebState, session: &Session) -> String {
    match state.store.find_user_by_id(&session.user_id).await {
        Ok(Some(user)) => user.username,
        _ => String::new(),
    }
}
