//! `/admin/users`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use secrecy::SecretString;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{
    CreateUserRequest, ErrorResponse, PageResponse, PatchUserRequest, UserListQuery, UserResponse,
};
use super::{ChangeRecorder, UsersRead, UsersWrite};
use crate::auth::Authorized;
use crate::clock::unix_now;
use crate::credential_cache::CredentialCache;
use crate::credentials::PasswordHasher;
use crate::domain::{NewPassword, RoleName, ScopeSet, Username, parse_email};
use crate::error::ApiError;
use crate::store::{NewUser, SecondFactors, Store, User, UserChanges, UserFilter};

/// Mounts the user routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(patch_user)
        .service(delete_user);
}

fn shape(user: User, factors: SecondFactors) -> UserResponse {
    let scheme = user.password_scheme.as_str();
    UserResponse::new(user, scheme, factors)
}

/// `user` shaped with its second factors.
async fn shape_one(store: &Store, user: User) -> Result<UserResponse, ApiError> {
    let factors = store.second_factors(&user.id).await?;
    Ok(shape(user, factors))
}

// A username that cannot be valid cannot exist either.
pub(super) fn path_username(raw: &str) -> Result<Username, ApiError> {
    Username::parse(raw).map_err(|_| ApiError::NotFound(format!("user {raw:.64} does not exist")))
}

fn parse_roles(roles: &[String]) -> Result<Vec<RoleName>, ApiError> {
    Ok(roles
        .iter()
        .map(|r| RoleName::parse(r))
        .collect::<Result<_, _>>()?)
}

fn parse_optional_email(email: Option<String>) -> Result<Option<String>, ApiError> {
    Ok(email.map(|e| parse_email(&e)).transpose()?)
}

async fn hash_new_password(
    hasher: &PasswordHasher,
    password: SecretString,
) -> Result<crate::credentials::PasswordHash, ApiError> {
    let password = NewPassword::parse(password)?;
    Ok(hasher.hash(password.secret()).await?)
}

/// Lists users, optionally only holders of a role or only (dis)abled ones.
#[utoipa::path(
    tag = "admin",
    params(UserListQuery),
    responses(
        (status = 200, body = PageResponse<UserResponse>),
        (status = 400, description = "bad paging or an unknown parameter", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)
    ),
    security(("bearer" = ["users:read"]))
)]
#[get("/users")]
async fn list_users(
    _: Authorized<UsersRead>,
    query: web::Query<UserListQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let filter = UserFilter {
        role: query.role.clone(),
        disabled: query.disabled,
    };
    let found = store.list_users_page(&filter, page).await?;
    let ids: Vec<String> = found.items.iter().map(|user| user.id.clone()).collect();
    let mut factors = store.second_factors_of(&ids).await?;
    let items = found
        .items
        .into_iter()
        .map(|user| {
            let of_user = factors.remove(&user.id).unwrap_or_default();
            shape(user, of_user)
        })
        .collect();
    Ok(HttpResponse::Ok().json(PageResponse::new(items, found.total, page)))
}

/// Creates a user.
#[utoipa::path(
    tag = "admin",
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserResponse),
        (status = 400, description = "invalid input, including a role that does not exist", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the roles grant admin scopes the token lacks", body = ErrorResponse),
        (status = 409, description = "the username is taken", body = ErrorResponse)
    ),
    security(("bearer" = ["users:write"]))
)]
#[post("/users")]
async fn create_user(
    caller: Authorized<UsersWrite>,
    recorder: ChangeRecorder,
    body: web::Json<CreateUserRequest>,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let username = Username::parse(&body.username)?;
    let roles = parse_roles(&body.roles)?;
    let granted = store
        .authorize_grant(&caller.caller.authority(), &roles, &ScopeSet::default())
        .await;
    recorder
        .unless_refused(&caller.caller, "user.created", username.as_str(), granted)
        .await?;
    let new = NewUser {
        username,
        email: parse_optional_email(body.email)?,
        full_name: body.full_name,
        disabled: body.disabled,
        roles,
        password_hash: hash_new_password(&hasher, body.password).await?,
    };
    let user = store.create_user(&new, unix_now()).await?;
    recorder
        .record(
            &caller.caller,
            "user.created",
            &user.username,
            Some(format!("roles={}", user.roles.join(","))),
        )
        .await;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/users/{}", user.username)))
        .json(shape(user, SecondFactors::default())))
}

/// One user.
#[utoipa::path(
    tag = "admin",
    params(("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)")),
    responses(
        (status = 200, body = UserResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["users:read"]))
)]
#[get("/users/{username}")]
async fn get_user(
    _: Authorized<UsersRead>,
    username: web::Path<String>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let username = path_username(&username)?;
    let user = store
        .find_user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username} does not exist")))?;
    Ok(HttpResponse::Ok().json(shape_one(&store, user).await?))
}

/// Changes a user; a new password or disabling ends their sessions.
#[utoipa::path(
    tag = "admin",
    params(("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)")),
    request_body = PatchUserRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 400, description = "invalid input, including a role that does not exist", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the user or the new roles hold admin scopes the token lacks", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "it would disable or demote the last full admin", body = ErrorResponse)
    ),
    security(("bearer" = ["users:write"]))
)]
#[patch("/users/{username}")]
async fn patch_user(
    caller: Authorized<UsersWrite>,
    recorder: ChangeRecorder,
    username: web::Path<String>,
    body: web::Json<PatchUserRequest>,
    store: web::Data<Store>,
    cache: web::Data<CredentialCache>,
    hasher: web::Data<PasswordHasher>,
) -> Result<HttpResponse, ApiError> {
    let username = path_username(&username)?;
    let body = body.into_inner();
    let changes = UserChanges {
        email: body.email.map(parse_optional_email).transpose()?,
        full_name: body.full_name,
        roles: body.roles.as_deref().map(parse_roles).transpose()?,
        disabled: body.disabled,
        password_hash: match body.password {
            Some(password) => Some(hash_new_password(&hasher, password).await?),
            None => None,
        },
    };
    let detail = changes.describe();
    let updated = store
        .update_user(&username, &changes, unix_now(), &caller.caller.authority())
        .await;
    let user = recorder
        .unless_refused(&caller.caller, "user.updated", username.as_str(), updated)
        .await?;
    cache.forget_user(&user.id);
    recorder
        .record(&caller.caller, "user.updated", &user.username, Some(detail))
        .await;
    Ok(HttpResponse::Ok().json(shape_one(&store, user).await?))
}

/// Deletes a user; their tokens stop working.
#[utoipa::path(
    tag = "admin",
    params(("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the user holds admin scopes the token lacks", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "it is the last full admin", body = ErrorResponse)
    ),
    security(("bearer" = ["users:write"]))
)]
#[delete("/users/{username}")]
async fn delete_user(
    caller: Authorized<UsersWrite>,
    recorder: ChangeRecorder,
    username: web::Path<String>,
    store: web::Data<Store>,
    cache: web::Data<CredentialCache>,
) -> Result<HttpResponse, ApiError> {
    let username = path_username(&username)?;
    let id = store.find_user(&username).await?.map(|user| user.id);
    let deleted = store
        .delete_user(&username, &caller.caller.authority())
        .await;
    recorder
        .unless_refused(&caller.caller, "user.deleted", username.as_str(), deleted)
        .await?;
    if let Some(id) = id {
        cache.forget_user(&id);
    }
    recorder
        .record(&caller.caller, "user.deleted", username.as_str(), None)
        .await;
    Ok(HttpResponse::NoContent().finish())
}
