//! `GET` and `POST /userinfo` (OpenID Connect Core section 5.3): the claims an access token's
//! scopes release about its user. Errors are RFC 6750 challenges.

use actix_web::{HttpResponse, get, post};
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authorized;
use crate::domain::ScopeSet;
use crate::error::ApiError;
use crate::openid::UserClaims;
use crate::required_scope;
use crate::routes::admin::wire::ErrorResponse;

required_scope!(
    /// Reading the signed-in user's claims.
    OpenIdScope, "openid"
);

/// Mounts `/userinfo`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_userinfo).service(post_userinfo);
}

#[derive(Serialize)]
struct UserInfo {
    sub: String,
    #[serde(flatten)]
    claims: UserClaims,
}

/// The user's claims, as the token's scopes allow.
#[utoipa::path(
    tag = "openid",
    responses(
        (status = 200, description = "`sub` and the claims the token's scopes release"),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "the token lacks `openid`, or is a client's", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[get("/userinfo")]
async fn show_userinfo(caller: Authorized<OpenIdScope>) -> Result<HttpResponse, ApiError> {
    userinfo(caller)
}

/// The same as `GET /userinfo` (Core section 5.3.1 allows both).
#[utoipa::path(
    tag = "openid",
    responses(
        (status = 200, description = "`sub` and the claims the token's scopes release"),
        (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[post("/userinfo")]
async fn post_userinfo(caller: Authorized<OpenIdScope>) -> Result<HttpResponse, ApiError> {
    userinfo(caller)
}

fn userinfo(caller: Authorized<OpenIdScope>) -> Result<HttpResponse, ApiError> {
    let caller = caller.caller;
    let Some(user) = caller.user else {
        return Err(ApiError::InsufficientScope("openid"));
    };
    // Tokens authd signed carry valid scopes.
    let scope = ScopeSet::parse(&caller.claims.scope).unwrap_or_default();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(UserInfo {
            sub: user.id.clone(),
            claims: UserClaims::of(&user, &scope),
        }))
}
