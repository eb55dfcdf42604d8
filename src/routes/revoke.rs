//! `POST /revoke` (RFC 7009): a client ends a token it holds.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::unix_now;
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::credentials::{PresentedClient, authenticate_client, hash_secret};
use crate::error::OAuthError;
use crate::inspection::{MAX_REFRESH_TOKEN_BYTES, family_of_stale_refresh_token, looks_like_jwt};
use crate::routes::client_ip::client_ip;
use crate::routes::{FormBody, OAuthForm};
use crate::store::Store;
use crate::tokens::TokenService;

/// Mounts `/revoke`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(revoke_token);
}

/// The form of `POST /revoke`, for the OpenAPI document.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct RevocationRequestForm {
    /// The token to revoke.
    #[schema(min_length = 1)]
    token: String,
    /// `access_token` or `refresh_token`; only a hint.
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    /// Public clients identify themselves here.
    #[schema(nullable = false, pattern = r"^[A-Za-z0-9._~:-]{0,128}$")]
    client_id: Option<String>,
    /// Confidential clients may authenticate here instead of HTTP Basic (not both).
    #[schema(nullable = false)]
    client_secret: Option<String>,
    // RFC 7009 section 2.1 lists the parameters; others are ignored.
    #[serde(flatten)]
    other: std::collections::HashMap<String, String>,
}

/// Revokes a refresh token (with its rotation family) or an access token (by `jti`).
#[utoipa::path(
    tag = "oauth",
    request_body(content = RevocationRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "revoked, or unknown (RFC 7009 section 2.2)"),
        (status = 400, body = crate::routes::admin::wire::ErrorResponse),
        (status = 401, body = crate::routes::admin::wire::ErrorResponse)
    ),
    security((), ("client_basic" = []))
)]
#[post("/revoke")]
async fn revoke_token(
    request: HttpRequest,
    body: FormBody,
    store: web::Data<Store>,
    tokens: web::Data<TokenService>,
    settings: web::Data<Settings>,
    cache: web::Data<CredentialCache>,
    audit: web::Data<AuditLog>,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::parse(&request, &body)?;
    let credentials = form.client_credentials(&request)?;
    // Section 2.1: public clients identify by client_id alone.
    let client = authenticate_client(&store, &cache, &settings.oauth, &credentials).await?;
    let token = form.require("token")?;
    // The hint only orders the lookups (section 2.1); both kinds are tried.
    let revoked = if looks_like_jwt(token) {
        revoke_access_token(token, &client, &store, &tokens, &cache).await?
    } else {
        revoke_refresh_token(token, &client, &store).await?
    };
    if let Some(what) = revoked {
        log::info!("client {} revoked {what}", client.client_id);
        let event = AuditEvent::new("token.revoked")
            .actor(&client.client_id)
            .client(&client.client_id)
            .ip(client_ip(&request, settings.security.trust_forwarded_for))
            .detail(what);
        audit.record(event).await;
    }
    // Section 2.2: unknown, invalid and already revoked tokens all get 200.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

fn not_issued_to(client: &PresentedClient) -> OAuthError {
    OAuthError::UnauthorizedClient(format!(
        "the token was not issued to client {}",
        client.client_id
    ))
}

async fn revoke_access_token(
    token: &str,
    client: &PresentedClient,
    store: &Store,
    tokens: &TokenService,
    cache: &CredentialCache,
) -> Result<Option<String>, OAuthError> {
    let Ok(claims) = tokens.verify_ignoring_expiry(token) else {
        return Ok(None);
    };
    if claims.client_id != client.client_id {
        return Err(not_issued_to(client));
    }
    if claims.exp <= unix_now() {
        return Ok(None);
    }
    store.revoke_access_token(&claims.jti, claims.exp).await?;
    cache.mark_revoked(&claims.jti, claims.exp);
    Ok(Some(format!("access token jti={}", claims.jti)))
}

async fn revoke_refresh_token(
    token: &str,
    client: &PresentedClient,
    store: &Store,
) -> Result<Option<String>, OAuthError> {
    if token.len() > MAX_REFRESH_TOKEN_BYTES {
        return Ok(None);
    }
    // The current token of a family, or an older one of it: either way the family ends.
    let token_hash = hash_secret(token);
    let family = match store.find_refresh_token(&token_hash).await? {
        Some(family) => Some(family),
        None => family_of_stale_refresh_token(token, &token_hash, store).await?,
    };
    let Some(family) = family else {
        return Ok(None);
    };
    if family.client_id != client.client_id {
        return Err(not_issued_to(client));
    }
    store.revoke_refresh_family(&family.id).await?;
    Ok(Some(format!("refresh token family {}", family.id)))
}
