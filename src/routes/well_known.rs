//! Discovery: the JWKS document (RFC 7517) and authorization server metadata (RFC 8414).

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::config::Settings;
use crate::error::OAuthError;
use crate::routes::openid::{metadata_document, metadata_response};
use crate::store::Store;
use crate::tokens::TokenService;

/// Mounts the `/.well-known` documents.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_jwks).service(show_metadata);
}

/// Public keys of every key whose tokens may still be presented.
#[utoipa::path(tag = "discovery", responses((status = 200, description = "JWK Set (RFC 7517)")))]
#[get("/.well-known/jwks.json")]
async fn show_jwks(tokens: web::Data<TokenService>, settings: web::Data<Settings>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", settings.keys.jwks_max_age_secs),
        ))
        .json(json!({ "keys": tokens.keys().public_jwks() }))
}

/// RFC 8414 section 2 metadata: the OpenID Provider metadata document.
#[utoipa::path(tag = "discovery", responses((status = 200, description = "authorization server metadata (RFC 8414)")))]
#[get("/.well-known/oauth-authorization-server")]
async fn show_metadata(
    tokens: web::Data<TokenService>,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, OAuthError> {
    Ok(metadata_response(
        metadata_document(&tokens, &store, &settings).await?,
    ))
}
