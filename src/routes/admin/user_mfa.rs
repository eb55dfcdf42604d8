//! `DELETE /admin/users/{username}/mfa`: an admin removes a person's second factors (TOTP,
//! recovery codes and passkeys), e.g. after they lost their phone.

use actix_web::{HttpResponse, delete, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::path_username;
use super::wire::ErrorResponse;
use super::{ChangeRecorder, UsersWrite};
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::store::Store;

/// Mounts the second-factor routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(reset_user_mfa);
}

/// Removes every second factor of the user: their next sign-in is with the password alone (or
/// leads to enrolment when a role demands a second factor).
#[utoipa::path(
    tag = "admin",
    params(("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)")),
    responses(
        (status = 204, description = "removed (also when there were none)"),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the user holds admin scopes the token lacks", body = ErrorResponse),
        (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["users:write"]))
)]
#[delete("/users/{username}/mfa")]
async fn reset_user_mfa(
    caller: Authorized<UsersWrite>,
    recorder: ChangeRecorder,
    username: web::Path<String>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let username = path_username(&username)?;
    let user = store
        .find_user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username} does not exist")))?;
    // Taking an admin's second factor away weakens their account: the same rule as changing
    // the user.
    let allowed = store
        .may_act_on_user(&user.id, &user.username, &caller.caller.authority())
        .await;
    recorder
        .unless_refused(&caller.caller, "mfa.reset", &user.username, allowed)
        .await?;
    let removed = store.reset_second_factors(&user.id).await?;
    recorder
        .record(
            &caller.caller,
            "mfa.reset",
            &user.username,
            Some(describe_removed(&removed)),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit detail of a reset: what was removed.
pub fn describe_removed(removed: &crate::store::SecondFactors) -> String {
    format!(
        "totp={} passkeys={} recovery_codes={}",
        removed.totp, removed.passkeys, removed.recovery_codes_left
    )
}
