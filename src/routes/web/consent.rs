//! The consent page: which client asks for which scopes, and the person's decision.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use utoipa_actix_web::service_config::ServiceConfig;

use super::pages::{Chrome, csp_source_of, html};
use super::{WebState, form_parameters};
use crate::routes::FormBody;
use crate::signin::{LoginTransaction, Stage};
use crate::store::Session;

/// Mounts `/consent`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_consent).service(submit_consent);
}

struct ScopeLine {
    name: String,
    description: Option<String>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    chrome: Chrome,
    client_name: String,
    client_id: String,
    username: String,
    scopes: Vec<ScopeLine>,
    csrf: String,
}

/// The transaction at consent and the session it belongs to, or the page saying why not.
async fn at_consent(
    request: &HttpRequest,
    state: &WebState,
) -> Result<(LoginTransaction, Session), HttpResponse> {
    let transaction = state
        .transaction(request)
        .filter(|t| matches!(t.stage, Stage::Consent { .. }))
        .ok_or_else(|| {
            state.error_page(
                StatusCode::BAD_REQUEST,
                "This request expired or was not started here. Start again from the application.",
            )
        })?;
    match state.session(request).await {
        Ok(Some(session)) => Ok((transaction, session)),
        Ok(None) => Err(state.error_page(
            StatusCode::BAD_REQUEST,
            "You are no longer signed in. Start again from the application.",
        )),
        Err(error) => Err(state.unavailable(error)),
    }
}

/// Shows what the client asks for.
#[utoipa::path(tag = "browser", responses((status = 200, description = "HTML consent page")))]
#[get("/consent")]
async fn show_consent(request: HttpRequest, state: WebState) -> HttpResponse {
    let (transaction, session) = match at_consent(&request, &state).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let asked = match state.flow().consent_request(&transaction, &session).await {
        Ok(Ok(asked)) => asked,
        Ok(Err(message)) => return state.error_page(StatusCode::BAD_REQUEST, &message),
        Err(error) => return state.unavailable(error),
    };
    let username = match state.store.find_user_by_id(&session.user_id).await {
        Ok(Some(user)) => user.username,
        Ok(None) => String::new(),
        Err(error) => return state.unavailable(error),
    };
    let form_targets: Vec<String> = transaction
        .request()
        .and_then(|request| csp_source_of(request.deliver_to.uri()))
        .into_iter()
        .collect();
    let page = ConsentPage {
        chrome: Chrome::new(&state.settings.pages),
        client_name: asked.client_name,
        client_id: asked.client_id,
        username,
        scopes: asked
            .scopes
            .into_iter()
            .map(|(name, description)| ScopeLine { name, description })
            .collect(),
        csrf: transaction.csrf.clone(),
    };
    html(StatusCode::OK, &page, &form_targets, &[])
}

/// Records the decision and answers the client.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "decision=allow|deny, csrf"),
    responses((status = 303, description = "to the client's redirect URI"))
)]
#[post("/consent")]
async fn submit_consent(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (transaction, session) = match at_consent(&request, &state).await {
        Ok(found) => found,
        Err(page) => return page,
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
            "This form does not belong to your request. Start again from the application.",
        );
    }
    let allow = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return state.error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    };
    match state.flow().decide(&transaction, &session, allow).await {
        Ok(step) => state.respond(step, Vec::new()),
        Err(error) => state.unavailable(error),
    }
}
