//! Discovery: the JWKS document (RFC 7517) and authorization server metadata (RFC 8414).

use std::collections::BTreeSet;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::config::Settings;
use crate::domain::{ADMIN_SCOPES, GrantType};
use crate::error::OAuthError;
use crate::routes::introspect::INTROSPECT_SCOPE;
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

/// RFC 8414 section 2 metadata.
#[utoipa::path(tag = "discovery", responses((status = 200, description = "authorization server metadata (RFC 8414)")))]
#[get("/.well-known/oauth-authorization-server")]
async fn show_metadata(
    tokens: web::Data<TokenService>,
    store: web::Data<Store>,
) -> Result<HttpResponse, OAuthError> {
    let issuer = tokens.issuer().trim_end_matches('/');
    let mut scopes: BTreeSet<String> = ADMIN_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    scopes.insert(INTROSPECT_SCOPE.to_owned());
    for role in store.list_roles().await? {
        scopes.extend(role.scopes.iter().map(|s| s.as_str().to_owned()));
    }
    let body = json!({
        "issuer": tokens.issuer(),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207: every answer from /authorize names the issuer.
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(body))
}
