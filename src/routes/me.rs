//! `GET /me`: the caller's own profile.

use actix_web::{HttpResponse, get};
use utoipa_actix_web::service_config::ServiceConfig;

use super::admin::wire::{ErrorResponse, MeResponse};
use crate::auth::Caller;
use crate::error::ApiError;

/// Mounts `/me`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_me);
}

/// The profile of the user the bearer token belongs to, and this token's scope.
#[utoipa::path(
    tag = "me",
    responses(
        (status = 200, body = MeResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a client token, not a user's", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
#[get("/me")]
async fn show_me(caller: Caller) -> Result<HttpResponse, ApiError> {
    let Some(user) = caller.user else {
        return Err(ApiError::Forbidden(
            "/me needs a user's token, not a client's".into(),
        ));
    };
    Ok(HttpResponse::Ok().json(MeResponse {
        id: user.id,
        username: user.username,
        email: user.email,
        full_name: user.full_name,
        roles: user.roles,
        scope: caller.claims.scope,
        amr: caller.claims.amr,
        acr: caller.claims.acr,
        auth_time: caller.claims.auth_time,
    }))
}
