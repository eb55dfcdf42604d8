//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 section 4). The same
//! document answers RFC 8414's `/.well-known/oauth-authorization-server`, so the two can never
//! disagree.

use std::collections::BTreeSet;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde_json::{Value, json};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::config::Settings;
use crate::domain::{ADMIN_SCOPES, GrantType};
use crate::error::OAuthError;
use crate::mfa::{ACR_MFA, ACR_PWD};
use crate::openid::OPENID_SCOPES;
use crate::routes::introspect::INTROSPECT_SCOPE;
use crate::store::Store;
use crate::tokens::TokenService;

/// Mounts the discovery document.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_openid_configuration);
}

/// OpenID Provider metadata.
#[utoipa::path(tag = "discovery", responses((status = 200, description = "OpenID Provider metadata (OpenID Connect Discovery 1.0)")))]
#[get("/.well-known/openid-configuration")]
async fn show_openid_configuration(
    tokens: web::Data<TokenService>,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, OAuthError> {
    Ok(metadata_response(
        metadata_document(&tokens, &store, &settings).await?,
    ))
}

/// Metadata documents may be cached briefly: they change with roles and keys only.
pub fn metadata_response(document: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(document)
}

/// The server's metadata: RFC 8414 section 2 and OpenID Connect Discovery section 3 in one.
pub async fn metadata_document(
    tokens: &TokenService,
    store: &Store,
    settings: &Settings,
) -> Result<Value, OAuthError> {
    let issuer = tokens.issuer().trim_end_matches('/');
    let mut scopes: BTreeSet<String> = ADMIN_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    scopes.insert(INTROSPECT_SCOPE.to_owned());
    scopes.extend(OPENID_SCOPES.iter().map(|s| (*s).to_owned()));
    for role in store.list_roles().await? {
        scopes.extend(role.scopes.iter().map(|s| s.as_str().to_owned()));
    }
    let id_token_algorithms: Vec<String> = tokens
        .keys()
        .offered_algorithms()
        .iter()
        .map(|alg| format!("{alg:?}"))
        .collect();
    Ok(json!({
        "issuer": tokens.issuer(),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "pushed_authorization_request_endpoint": format!("{issuer}/par"),
        // RFC 8628 section 4.
        "device_authorization_endpoint": format!("{issuer}/device_authorization"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 section 5.1.
        "dpop_signing_alg_values_supported": crate::dpop::SIGNING_ALGS,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        // RFC 9207: every answer from /authorize names the issuer.
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": id_token_algorithms,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash", "sid",
            "amr", "acr", "name", "preferred_username", "email", "email_verified", "roles",
        ],
        // Issue 13: a password alone, or a second factor (or a passkey); see mfa::strength.
        "acr_values_supported": [ACR_PWD, ACR_MFA],
        "claims_parameter_supported": false,
        // Request objects are refused; request_uri's default (true) would promise them. The
        // request_uri values /par issues are accepted regardless (RFC 9126 section 4).
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_pushed_authorization_requests": settings.oauth.require_pushed_authorization_requests,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        // RFC 9701 section 7: empty (HS256 mode) means introspection answers JSON only.
        "introspection_signing_alg_values_supported": id_token_algorithms,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    }))
}
