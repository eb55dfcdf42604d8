//! `/admin/users/{username}/passkeys`: a person's passkeys, listed and deleted by an admin (a lost
//! or stolen authenticator).

use actix_web::{HttpResponse, delete, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::path_username;
use super::wire::{ErrorResponse, PageQuery, PageResponse};
use super::{ChangeRecorder, UsersRead, UsersWrite};
use crate::auth::Authorized;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::store::{Store, StoredPasskey, User, paginate};

/// Mounts the passkey routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_user_passkeys).service(delete_user_passkey);
}

/// A registered passkey (its public key is not shown).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyResponse {
    /// The WebAuthn credential id, base64url.
    pub credential_id: String,
    /// The name its owner gave it.
    pub name: String,
    /// RFC 3339: when it was registered.
    pub created_at: String,
    /// RFC 3339: when it last signed in.
    pub last_used_at: Option<String>,
}

impl From<StoredPasskey> for PasskeyResponse {
    fn from(passkey: StoredPasskey) -> Self {
        Self {
            credential_id: passkey.credential_id,
            name: passkey.name,
            created_at: rfc3339(passkey.created_at),
            last_used_at: passkey.last_used_at.map(rfc3339),
        }
    }
}

async fn path_user(store: &Store, raw: &str) -> Result<User, ApiError> {
    let username = path_username(raw)?;
    store
        .find_user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {raw:.64} does not exist")))
}

/// The user's passkeys, oldest first.
#[utoipa::path(
    tag = "admin",
    params(
        ("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)"),
        PageQuery
    ),
    responses(
        (status = 200, body = PageResponse<PasskeyResponse>),
        (status = 400, description = "bad paging or an unknown parameter", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["users:read"]))
)]
#[get("/users/{username}/passkeys")]
async fn list_user_passkeys(
    _: Authorized<UsersRead>,
    username: web::Path<String>,
    query: web::Query<PageQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let user = path_user(&store, &username).await?;
    let found = paginate(store.list_passkeys(&user.id).await?, page);
    let items = found.items.into_iter().map(PasskeyResponse::from).collect();
    Ok(HttpResponse::Ok().json(PageResponse::new(items, found.total, page)))
}

/// Deletes one of the user's passkeys: it signs nobody in any more.
#[utoipa::path(
    tag = "admin",
    params(
        ("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)"),
        ("credential_id" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,1400}$", description = "The passkey's credential id (base64url)")
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, description = "no such user, or no such passkey of theirs", body = ErrorResponse)
    ),
    security(("bearer" = ["users:write"]))
)]
#[delete("/users/{username}/passkeys/{credential_id}")]
async fn delete_user_passkey(
    caller: Authorized<UsersWrite>,
    recorder: ChangeRecorder,
    path: web::Path<(String, String)>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let (username, credential_id) = path.into_inner();
    let user = path_user(&store, &username).await?;
    let allowed = store
        .may_act_on_user(&user.id, &user.username, &caller.caller.authority())
        .await;
    recorder
        .unless_refused(
            &caller.caller,
            "passkey.deleted_by_admin",
            &user.username,
            allowed,
        )
        .await?;
    if !store.delete_passkey(&user.id, &credential_id).await? {
        return Err(ApiError::NotFound(format!(
            "user {} has no passkey {credential_id:.128}",
            user.username
        )));
    }
    recorder
        .record(
            &caller.caller,
            "passkey.deleted_by_admin",
            &user.username,
            Some(format!("passkey={credential_id}")),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
