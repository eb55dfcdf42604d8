//! `/login/enrol`: the signed-in person's roles demand a second factor they do not have. They set
//! one up on the account page (the login transaction waits in its cookie), then continue here;
//! no code is issued before.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use utoipa_actix_web::service_config::ServiceConfig;

use super::super::pages::{Chrome, html};
use super::super::{WebState, form_parameters};
use crate::routes::FormBody;
use crate::signin::flow::display_name;
use crate::signin::{LoginTransaction, Stage};
use crate::store::Session;

/// Mounts `/login/enrol`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_enrol).service(submit_enrol);
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    chrome: Chrome,
    client_name: Option<String>,
    csrf: String,
}

/// The transaction waiting for enrolment and the session it waits for.
async fn waiting(
    request: &HttpRequest,
    state: &WebState,
) -> Result<(LoginTransaction, Session), HttpResponse> {
    let expired = || {
        state.error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in expired or was not started here. Start again from the application.",
        )
    };
    let transaction = state.transaction(request).ok_or_else(expired)?;
    let Stage::Enrol { session_handle } = &transaction.stage else {
        return Err(expired());
    };
    match state.session(request).await {
        Ok(Some(session)) if session.handle == *session_handle => Ok((transaction, session)),
        Ok(_) => Err(expired()),
        Err(error) => Err(state.unavailable(error)),
    }
}

/// Asks the person to set up a second factor.
#[utoipa::path(tag = "browser", responses((status = 200, description = "HTML page asking for a second factor")))]
#[get("/login/enrol")]
async fn show_enrol(request: HttpRequest, state: WebState) -> HttpResponse {
    let (transaction, _) = match waiting(&request, &state).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let mut client_name = None;
    if let Some(request) = transaction.request() {
        let client = state
            .cache
            .client_named(&state.store, &request.client_id)
            .await
            .ok()
            .flatten();
        client_name =
            Some(client.map_or_else(|| request.client_id.clone(), |client| display_name(&client)));
    }
    let page = EnrolPage {
        chrome: Chrome::new(&state.settings.pages),
        client_name,
        csrf: transaction.csrf.clone(),
    };
    html(StatusCode::OK, &page, &[], &[])
}

/// Goes on: to the second factor just enrolled (or the client, when enrolling already proved
/// it), or back here when there is still none.
#[utoipa::path(
    tag = "browser",
    request_body(content_type = "application/x-www-form-urlencoded", description = "csrf"),
    responses((status = 303, description = "to the second factor, /consent or the client"))
)]
#[post("/login/enrol")]
async fn submit_enrol(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let (transaction, session) = match waiting(&request, &state).await {
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
            "This form does not belong to your sign-in. Start again from the application.",
        );
    }
    match state.flow().after_sign_in(transaction, &session).await {
        Ok(step) => state.respond(step, Vec::new()),
        Err(error) => state.unavailable(error),
    }
}
