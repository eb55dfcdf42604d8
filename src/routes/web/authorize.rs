//! `GET` and `POST /authorize` (RFC 6749 section 4.1.1; OpenID Connect Core requires both).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{WebState, is_form, pages};
use crate::openid::check_openid_request;
use crate::par;
use crate::routes::FormBody;
use crate::signin::authorization_request::{AuthorizationRequest, check_request, client_id_of};
use crate::signin::redirect::ErrorCode;
use crate::signin::{RawParameters, RequestError};
use crate::store::StoreError;

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
    // RFC 9126 section 4: a pushed request replaces every parameter but client_id. Any other
    // request_uri (a request object by reference) is refused by check_request.
    let pushed = params
        .get("request_uri")
        .is_some_and(|uri| uri.starts_with(par::REQUEST_URI_PREFIX));
    let checked = if pushed {
        par::redeem(
            &params,
            &state.store,
            &state.cache,
            &state.keys,
            state.now(),
        )
        .await
    } else {
        check_plain_request(state, &params).await
    };
    let authorization = match checked {
        Ok(Ok(authorization)) => authorization,
        Ok(Err(RequestError::Page(message))) => {
            return state.error_page(StatusCode::BAD_REQUEST, &message);
        }
        Ok(Err(RequestError::Redirect(target, code, description))) => {
            let location = target.error(code, &description, state.tokens.issuer());
            return pages::see_other(&location, &[]);
        }
        Err(error) => return state.unavailable(error),
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

/// A request with its parameters in the query or form.
async fn check_plain_request(
    state: &WebState,
    params: &RawParameters,
) -> Result<Result<AuthorizationRequest, RequestError>, StoreError> {
    let client = match client_id_of(params) {
        Ok(client_id) => state.cache.client(&state.store, &client_id).await?,
        Err(error) => return Ok(Err(error)),
    };
    let checked = check_request(params, client.as_deref())
        .and_then(|authorization| check_openid_request(&state.tokens, params, authorization));
    // RFC 9126 section 5: refused once the redirect URI is checked, so the client hears of it.
    let required = client
        .as_ref()
        .is_some_and(|client| par::is_required(client, &state.settings.oauth));
    Ok(checked.and_then(|authorization| match required {
        true => Err(RequestError::Redirect(
            authorization.deliver_to,
            ErrorCode::InvalidRequest,
            "this client must push its authorization requests to /par".to_owned(),
        )),
        false => Ok(authorization),
    }))
}
