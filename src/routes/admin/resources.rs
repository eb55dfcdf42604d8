//! `/admin/resources`: the APIs tokens can be asked for (RFC 8707) and the scopes each claims.

use actix_web::{HttpResponse, delete, get, put, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{ErrorResponse, PageQuery, PageResponse};
use super::{ChangeRecorder, ClientsRead, ClientsWrite};
use crate::auth::{Authorized, Caller};
use crate::clock::{rfc3339, unix_now};
use crate::domain::{Authority, ResourceUri, ScopeSet, require_admin_scopes};
use crate::error::ApiError;
use crate::resources::ResourceRegistry;
use crate::store::{RegisteredResource, Store, paginate};

/// Mounts the resource routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_resources)
        .service(put_resource)
        .service(delete_resource);
}

/// A registered resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceResponse {
    /// The resource indicator.
    pub uri: String,
    /// The scopes it claims: tokens for it carry only these, tokens without a resource never.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<RegisteredResource> for ResourceResponse {
    fn from(resource: RegisteredResource) -> Self {
        Self {
            uri: resource.uri.as_str().to_owned(),
            scopes: resource
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            created_at: rfc3339(resource.created_at),
        }
    }
}

/// `PUT /admin/resources`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutResourceRequest {
    /// An absolute URI without a fragment.
    #[schema(format = "uri", max_length = 2048)]
    pub uri: String,
    /// The scopes it claims (the complete new list).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `?uri=` of `DELETE /admin/resources`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResourceQuery {
    /// The resource indicator.
    pub uri: String,
}

/// The delegation rule: tying scopes to a resource, or untying them, changes who holds them, so
/// an API caller must hold every admin scope among them.
fn require_delegation(
    caller: &Caller,
    scopes: &ScopeSet,
    uri: &ResourceUri,
) -> Result<(), ApiError> {
    let held = match caller.authority() {
        Authority::Operator => None,
        Authority::Caller { scopes, .. } => Some(scopes),
    };
    require_admin_scopes(held.as_ref(), scopes, format_args!("resource {uri} claims"))?;
    Ok(())
}

/// The scopes `uri` claims now; empty when it is not registered.
async fn claimed_now(store: &Store, uri: &ResourceUri) -> Result<Option<ScopeSet>, ApiError> {
    Ok(store
        .list_resources()
        .await?
        .into_iter()
        .find(|resource| &resource.uri == uri)
        .map(|resource| resource.scopes))
}

/// Lists registered resources and the scopes each claims.
#[utoipa::path(
    tag = "admin",
    params(PageQuery),
    responses(
        (status = 200, body = PageResponse<ResourceResponse>),
        (status = 400, description = "bad paging or an unknown parameter", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)
    ),
    security(("bearer" = ["clients:read"]))
)]
#[get("/resources")]
async fn list_resources(
    _: Authorized<ClientsRead>,
    query: web::Query<PageQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let found = paginate(store.list_resources().await?, page);
    let items = found
        .items
        .into_iter()
        .map(ResourceResponse::from)
        .collect();
    Ok(HttpResponse::Ok().json(PageResponse::new(items, found.total, page)))
}

/// Registers a resource, or replaces the scopes it claims.
#[utoipa::path(
    tag = "admin",
    request_body = PutResourceRequest,
    responses(
        (status = 200, body = ResourceResponse),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the resource claims (or would claim) admin scopes the token lacks", body = ErrorResponse)
    ),
    security(("bearer" = ["clients:write"]))
)]
#[put("/resources")]
async fn put_resource(
    caller: Authorized<ClientsWrite>,
    recorder: ChangeRecorder,
    body: web::Json<PutResourceRequest>,
    store: web::Data<Store>,
    registry: web::Data<ResourceRegistry>,
) -> Result<HttpResponse, ApiError> {
    let uri = ResourceUri::parse(&body.uri)?;
    let scopes = ScopeSet::from_tokens(&body.scopes)?;
    let before = claimed_now(&store, &uri).await?.unwrap_or_default();
    let checked = require_delegation(&caller.caller, &scopes.union(&before), &uri);
    if let Err(ApiError::Refused(refusal)) = checked {
        let refused = Err(crate::store::StoreError::Refused(refusal));
        recorder
            .unless_refused(&caller.caller, "resource.set", uri.as_str(), refused)
            .await?;
    }
    store.put_resource(&uri, &scopes, unix_now()).await?;
    registry.forget();
    recorder
        .record(
            &caller.caller,
            "resource.set",
            uri.as_str(),
            Some(format!("scopes={scopes}")),
        )
        .await;
    let resource = store
        .list_resources()
        .await?
        .into_iter()
        .find(|resource| resource.uri == uri)
        .ok_or_else(|| ApiError::NotFound(format!("resource {uri} does not exist")))?;
    Ok(HttpResponse::Ok().json(ResourceResponse::from(resource)))
}

/// Removes a resource; clients that list it may still ask for it, and get tokens without scopes.
#[utoipa::path(
    tag = "admin",
    params(ResourceQuery),
    responses(
        (status = 204, description = "removed"),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the resource claims admin scopes the token lacks", body = ErrorResponse),
        (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["clients:write"]))
)]
#[delete("/resources")]
async fn delete_resource(
    caller: Authorized<ClientsWrite>,
    recorder: ChangeRecorder,
    query: web::Query<ResourceQuery>,
    store: web::Data<Store>,
    registry: web::Data<ResourceRegistry>,
) -> Result<HttpResponse, ApiError> {
    let missing = || ApiError::NotFound(format!("resource {:.128} does not exist", query.uri));
    let uri = ResourceUri::parse(&query.uri).map_err(|_| missing())?;
    let claimed = claimed_now(&store, &uri).await?.ok_or_else(missing)?;
    if let Err(ApiError::Refused(refusal)) = require_delegation(&caller.caller, &claimed, &uri) {
        let refused = Err(crate::store::StoreError::Refused(refusal));
        recorder
            .unless_refused(&caller.caller, "resource.deleted", uri.as_str(), refused)
            .await?;
    }
    if !store.delete_resource(&uri).await? {
        return Err(missing());
    }
    registry.forget();
    recorder
        .record(&caller.caller, "resource.deleted", uri.as_str(), None)
        .await;
    Ok(HttpResponse::NoContent().finish())
}
