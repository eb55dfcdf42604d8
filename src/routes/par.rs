//! `POST /par` (RFC 9126 section 2): the pushed authorization request endpoint.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::clock::Clock;
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::credentials::authenticate_named_client;
use crate::dpop::{Dpop, VerifiedProof};
use crate::error::OAuthError;
use crate::par::{PUSHED_REQUEST_TTL_SECS, PushedRequest, check_push};
use crate::routes::token::dpop_binding::spend;
use crate::routes::{FormBody, OAuthForm};
use crate::signin::{PageKeys, RawParameters};
use crate::store::Store;
use crate::tokens::TokenService;

/// Mounts `/par`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(push_authorization_request);
}

/// RFC 9126 section 2.2 response.
#[derive(Debug, Serialize, ToSchema)]
struct PushedAuthorizationResponse {
    /// `urn:ietf:params:oauth:request_uri:…`, for `/authorize` with the client_id.
    request_uri: String,
    /// Seconds the request_uri may be used.
    expires_in: i64,
}

/// The form of `POST /par`, for the OpenAPI document.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct PushedAuthorizationForm {
    /// `code`.
    response_type: String,
    /// The client (or authenticate with HTTP Basic).
    #[schema(nullable = false, pattern = r"^[A-Za-z0-9._~:-]{0,128}$")]
    client_id: Option<String>,
    /// For confidential clients, unless they use HTTP Basic.
    #[schema(nullable = false)]
    client_secret: Option<String>,
    /// Every other `/authorize` parameter (`redirect_uri`, `scope`, `state`, `code_challenge`,
    /// `code_challenge_method`, `nonce`, `prompt`, ...), checked as `/authorize` checks them;
    /// `request_uri` is refused.
    #[serde(flatten)]
    other: std::collections::HashMap<String, String>,
}

/// Checks an authorization request now and answers with a request_uri for `/authorize`.
#[utoipa::path(
    tag = "oauth",
    request_body(content = PushedAuthorizationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, body = PushedAuthorizationResponse),
        (status = 400, description = "RFC 6749 section 5.2 error", body = crate::routes::admin::wire::ErrorResponse),
        (status = 401, description = "invalid_client", body = crate::routes::admin::wire::ErrorResponse)
    ),
    security((), ("client_basic" = []))
)]
#[post("/par")]
#[allow(clippy::too_many_arguments)] // one actix extractor per shared service
async fn push_authorization_request(
    request: HttpRequest,
    body: FormBody,
    store: web::Data<Store>,
    tokens: web::Data<TokenService>,
    settings: web::Data<Settings>,
    cache: web::Data<CredentialCache>,
    clock: web::Data<Clock>,
    page_keys: web::Data<PageKeys>,
    dpop: web::Data<Dpop>,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::parse(&request, &body)?;
    let credentials = form.client_credentials(&request)?;
    // Section 2: client authentication as at /token; a public client names itself.
    let presented =
        authenticate_named_client(&store, &cache, &settings.oauth, &credentials).await?;
    let client = cache.client_named(&store, &presented.client_id).await?;
    // The built-in public client has no registration, and so no redirect URI.
    let Some(client) = client.filter(|c| c.registration == presented.registration) else {
        return Err(OAuthError::UnauthorizedClient(format!(
            "client {} may not use the authorization_code grant",
            presented.client_id
        )));
    };
    let encoded = std::str::from_utf8(&body)
        .map_err(|_| OAuthError::invalid_request("the body must be UTF-8"))?;
    let params = RawParameters::parse(encoded).map_err(OAuthError::InvalidRequest)?;
    let mut checked = check_push(&params, &client, &tokens)?;
    if let Some(proof) = dpop.check_token_request(&request, crate::clock::unix_now())? {
        checked.dpop_jkt = Some(bind_to_proof(checked.dpop_jkt.take(), &proof, &store).await?);
    }
    let request_uri = PushedRequest::new(checked, clock.now())
        .request_uri(&page_keys)
        .ok_or_else(|| OAuthError::invalid_request("the authorization request is too large"))?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PushedAuthorizationResponse {
            request_uri,
            expires_in: PUSHED_REQUEST_TTL_SECS,
        }))
}

/// RFC 9449 section 10.1: a proof sent with the push binds the code to its key, as `dpop_jkt`
/// does; both at once must name the same key. The proof is spent like one sent to `/token`.
async fn bind_to_proof(
    dpop_jkt: Option<String>,
    proof: &VerifiedProof,
    store: &Store,
) -> Result<String, OAuthError> {
    if dpop_jkt.is_some_and(|jkt| jkt != proof.jkt) {
        return Err(OAuthError::InvalidDpopProof(
            "dpop_jkt does not name the key of the DPoP proof".into(),
        ));
    }
    spend(store, proof).await?;
    Ok(proof.jkt.clone())
}
