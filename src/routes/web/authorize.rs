//! `GET` and `POST /authorize` (RFC 6749 section 4.1.1; OpenID Connect Core requires both).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{WebState, is_form, pages};
use crate::openid::{OPENID, verify_id_token_hint};
use crate::routes::FormBody;
use crate::signin::authorization_request::{AuthorizationRequest, check_request, client_id_of};
use crate::signin::redirect::ErrorCode;
use crate::signin::{RawParameters, RequestError};

/// Mounts `/authorize`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(authorize_get).service(authorize_post);
}

/// Starts browser sign-in: answers with a redirect to the login page, the consent page or the
/// client (a code, or an error), or an error page when the client cannot be trusted.
#[utoipa::path(
    tag = "browser",
    params(("response_type" = String, Query, description = "code"), ("client_id" = String, Query)),
    responses((status = 303, description = "to /login, /consent or the client's redirect URI"), (status = 400, description = "HTML error page"))
)]
#[get("/authorize")]
async fn authorize_get(request: HttpRequest, state: WebState) -> HttpResponse {
    authorize(&request, &state, request.query_string()).await
}

/// As `GET /authorize`, with the parameters in a form body.
#[utoipa::path(
    tag = "browser",
    responses((status = 303, description = "to /login, /consent or the client's redirect URI"), (status = 400, description = "HTML error page"))
)]
#[post("/authorize")]
async fn authorize_post(request: HttpRequest, state: WebState, body: FormBody) -> HttpResponse {
    let is_form = is_form(&request);
    match std::str::from_utf8(&body) {
        Ok(text) if is_form => authorize(&request, &state, text).await,
        _ => state.error_page(
            StatusCode::BAD_REQUEST,
            "The authorization request must be a form (application/x-www-form-urlencoded).",
        ),
    }
}

async fn authorize(request: &HttpRequest, state: &WebState, encoded: &str) -> HttpResponse {
    let params = match RawParameters::parse(encoded) {
        Ok(params) => params,
        Err(message) => return state.error_page(StatusCode::BAD_REQUEST, &message),
    };
    let checked = match client_id_of(&params) {
        Ok(client_id) => match state.cache.client(&state.store, &client_id).await {
            Ok(client) => check_request(&params, client.as_ref()),
            Err(error) => return state.unavailable(error),
        },
        Err(error) => Err(error),
    };
    let checked = checked.and_then(|authorization| openid_checks(state, &params, authorization));
    let authorization = match checked {
        Ok(authorization) => authorization,
        Err(RequestError::Page(message)) => {
            return state.error_page(StatusCode::BAD_REQUEST, &message);
        }
        Err(RequestError::Redirect(target, code, description)) => {
            let location = target.error(code, &description, state.tokens.issuer());
            return pages::see_other(&location, &[]);
        }
    };
    let session = match state.session(request).await {
        Ok(session) => session,
        Err(error) => return state.unavailable(error),
    };
    match state.flow().authorize(authorization, session).await {
        Ok(step) => state.respond(step, Vec::new()),
        Err(error) => state.unavailable(error),
    }
}

/// What OpenID Connect adds to a checked request: an id_token_hint must be one of ours, and
/// `openid` needs a key a relying party can verify.
fn openid_checks(
    state: &WebState,
    params: &RawParameters,
    mut authorization: AuthorizationRequest,
) -> Result<AuthorizationRequest, RequestError> {
    let refuse = |code, description: &str| {
        RequestError::Redirect(
            authorization.deliver_to.clone(),
            code,
            description.to_owned(),
        )
    };
    let asks_openid = authorization
        .scope
        .as_ref()
        .is_some_and(|scope| scope.contains(OPENID));
    if asks_openid && state.tokens.keys().offered_algorithms().is_empty() {
        return Err(refuse(
            ErrorCode::InvalidScope,
            "openid is not available: this server signs with HS256 only",
        ));
    }
    if let Some(hint) = params.get("id_token_hint") {
        let Some(hinted) = verify_id_token_hint(&state.tokens, hint) else {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "id_token_hint is not an id_token from this issuer",
            ));
        };
        authorization.hinted_subject = Some(hinted.sub);
    }
    Ok(authorization)
}
