//! `/admin/roles`.

use actix_web::{HttpResponse, delete, get, put, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{
    ErrorResponse, ForceQuery, PageQuery, PageResponse, PutRoleRequest, RoleResponse,
};
use super::{ChangeRecorder, RolesRead, RolesWrite};
use crate::auth::Authorized;
use crate::clock::unix_now;
use crate::domain::{RoleName, ScopeSet};
use crate::error::ApiError;
use crate::store::{Store, paginate};

/// Mounts the role routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_roles)
        .service(put_role)
        .service(delete_role);
}

fn path_role(raw: &str) -> Result<RoleName, ApiError> {
    RoleName::parse(raw).map_err(|_| ApiError::NotFound(format!("role {raw:.64} does not exist")))
}

/// Lists roles, their scopes and whether they demand a second factor.
#[utoipa::path(
    tag = "admin",
    params(PageQuery),
    responses(
        (status = 200, body = PageResponse<RoleResponse>),
        (status = 400, description = "bad paging or an unknown parameter", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)
    ),
    security(("bearer" = ["roles:read"]))
)]
#[get("/roles")]
async fn list_roles(
    _: Authorized<RolesRead>,
    query: web::Query<PageQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let found = paginate(store.list_roles().await?, page);
    let items = found.items.into_iter().map(RoleResponse::from).collect();
    Ok(HttpResponse::Ok().json(PageResponse::new(items, found.total, page)))
}

/// Creates a role or replaces its scopes and `require_mfa`.
#[utoipa::path(
    tag = "admin",
    params(("name" = String, Path, pattern = r"^[A-Za-z0-9._:-]{1,64}$", description = "Role name")),
    request_body = PutRoleRequest,
    responses(
        (status = 200, body = RoleResponse),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the role grants (or would grant) admin scopes the token lacks", body = ErrorResponse),
        (status = 409, description = "it would take the last full admin's scopes away", body = ErrorResponse)
    ),
    security(("bearer" = ["roles:write"]))
)]
#[put("/roles/{name}")]
async fn put_role(
    caller: Authorized<RolesWrite>,
    recorder: ChangeRecorder,
    name: web::Path<String>,
    body: web::Json<PutRoleRequest>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let name = RoleName::parse(&name)?;
    let scopes = ScopeSet::from_tokens(&body.scopes)?;
    let require_mfa = body.require_mfa;
    let set = store
        .set_role_as(
            &name,
            &scopes,
            require_mfa,
            unix_now(),
            &caller.caller.authority(),
        )
        .await;
    recorder
        .unless_refused(&caller.caller, "role.set", name.as_str(), set)
        .await?;
    recorder
        .record(
            &caller.caller,
            "role.set",
            name.as_str(),
            Some(format!("scopes={scopes} require_mfa={require_mfa}")),
        )
        .await;
    Ok(HttpResponse::Ok().json(RoleResponse {
        name: name.as_str().to_owned(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        require_mfa,
    }))
}

/// Deletes a role; 409 while users hold it unless `force=true`.
#[utoipa::path(
    tag = "admin",
    params(("name" = String, Path, pattern = r"^[A-Za-z0-9._:-]{1,64}$", description = "Role name"), ForceQuery),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "a malformed or unknown query parameter", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the role grants admin scopes the token lacks", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "users still hold the role, or it would take the last full admin's scopes away", body = ErrorResponse)
    ),
    security(("bearer" = ["roles:write"]))
)]
#[delete("/roles/{name}")]
async fn delete_role(
    caller: Authorized<RolesWrite>,
    recorder: ChangeRecorder,
    name: web::Path<String>,
    query: web::Query<ForceQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let name = path_role(&name)?;
    let deleted = store
        .delete_role(&name, query.force, &caller.caller.authority())
        .await;
    recorder
        .unless_refused(&caller.caller, "role.deleted", name.as_str(), deleted)
        .await?;
    recorder
        .record(
            &caller.caller,
            "role.deleted",
            name.as_str(),
            Some(format!("force={}", query.force)),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
