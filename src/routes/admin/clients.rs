//! `/admin/clients`.

use std::collections::BTreeSet;

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{
    ClientResponse, ClientSecretResponse, CreateClientRequest, CreateClientSchema,
    CreatedClientResponse, ErrorResponse, PageQuery, PageResponse, PatchClientRequest,
};
use super::{ChangeRecorder, ClientsRead, ClientsWrite};
use crate::auth::Authorized;
use crate::clock::unix_now;
use crate::credential_cache::CredentialCache;
use crate::credentials::{generate_secret, hash_secret};
use crate::domain::{
    BrowserChanges, BrowserInput, ClientId, ClientKind, GrantType, ResourceUri, ScopeSet,
};
use crate::error::ApiError;
use crate::net::AllowedOrigins;
use crate::store::{NewClient, Store};

/// Mounts the client routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_clients)
        .service(create_client)
        .service(patch_client)
        .service(rotate_client_secret)
        .service(delete_client);
}

fn path_client(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw).map_err(|_| ApiError::NotFound(format!("client {raw:.64} does not exist")))
}

/// Lists clients (never their secrets).
#[utoipa::path(
    tag = "admin",
    params(PageQuery),
    responses(
        (status = 200, body = PageResponse<ClientResponse>),
        (status = 400, description = "bad paging or an unknown parameter", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)
    ),
    security(("bearer" = ["clients:read"]))
)]
#[get("/clients")]
async fn list_clients(
    _: Authorized<ClientsRead>,
    query: web::Query<PageQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let found = store.list_clients_page(page).await?;
    let items = found.items.into_iter().map(ClientResponse::from).collect();
    Ok(HttpResponse::Ok().json(PageResponse::new(items, found.total, page)))
}

/// Registers a client; the response shows its secret once.
#[utoipa::path(
    tag = "admin",
    request_body = CreateClientSchema,
    responses(
        (status = 201, body = CreatedClientResponse),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the scopes include admin scopes the token lacks", body = ErrorResponse),
        (status = 409, description = "the client_id is taken", body = ErrorResponse)
    ),
    security(("bearer" = ["clients:write"]))
)]
#[post("/clients")]
async fn create_client(
    caller: Authorized<ClientsWrite>,
    recorder: ChangeRecorder,
    body: web::Json<CreateClientRequest>,
    store: web::Data<Store>,
    origins: web::Data<AllowedOrigins>,
) -> Result<HttpResponse, ApiError> {
    let client_id = ClientId::parse(&body.client_id)?;
    let grants = body
        .grants
        .iter()
        .map(|g| GrantType::parse(g))
        .collect::<Result<BTreeSet<_>, _>>()?;
    if grants.is_empty() {
        return Err(ApiError::Validation(
            "a client needs at least one grant".into(),
        ));
    }
    if body.public && grants.contains(&GrantType::ClientCredentials) {
        return Err(ApiError::Validation(
            "public clients may not use the client_credentials grant".into(),
        ));
    }
    let kind = ClientKind {
        grants: &grants,
        public: body.public,
    };
    let browser = BrowserChanges::parse(
        BrowserInput {
            client_name: body.client_name.as_deref(),
            redirect_uris: Some(&body.redirect_uris),
            allowed_origins: Some(&body.allowed_origins),
            skip_consent: Some(body.skip_consent),
            pkce_optional: Some(body.pkce_optional),
            post_logout_redirect_uris: Some(&body.post_logout_redirect_uris),
            backchannel_logout_uri: body.backchannel_logout_uri.as_deref(),
            backchannel_logout_session_required: Some(body.backchannel_logout_session_required),
            id_token_signed_response_alg: body.id_token_signed_response_alg.as_deref(),
            require_pushed_authorization_requests: Some(body.require_pushed_authorization_requests),
            introspection_signed_response_alg: body.introspection_signed_response_alg.as_deref(),
            dpop_bound_access_tokens: Some(body.dpop_bound_access_tokens),
            allow_impersonation: Some(body.allow_impersonation),
        },
        kind,
    )?;
    let scopes = ScopeSet::from_tokens(&body.scopes)?;
    let resources = ResourceUri::parse_list(&body.resources)?;
    let granted = store
        .authorize_grant(&caller.caller.authority(), &[], &scopes)
        .await;
    recorder
        .unless_refused(
            &caller.caller,
            "client.created",
            client_id.as_str(),
            granted,
        )
        .await?;
    let secret = (!body.public).then(generate_secret);
    let new = NewClient {
        client_id,
        secret_hash: secret.as_deref().map(hash_secret),
        grants,
        scopes,
        browser: browser.into(),
    };
    let mut client = store.create_client(&new, unix_now()).await?;
    if !resources.is_empty() {
        let client_id = &new.client_id;
        store
            .set_client_resources(client_id, &resources, &caller.caller.authority())
            .await?;
        client.resources = resources;
    }
    origins.forget();
    recorder
        .record(&caller.caller, "client.created", &client.client_id, None)
        .await;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/admin/clients/{}", client.client_id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedClientResponse {
            client: client.into(),
            client_secret: secret,
        }))
}

/// Changes a client's browser settings (display name, redirect URIs, allowed origins, the
/// consent and PKCE flags) and its resources. Grants, scopes and the secret cannot be changed
/// here.
#[utoipa::path(
    tag = "admin",
    params(("client_id" = String, Path, pattern = r"^[A-Za-z0-9._~:-]{1,128}$", description = "client_id")),
    request_body = PatchClientRequest,
    responses(
        (status = 200, body = ClientResponse),
        (status = 400, description = "invalid input, a setting the client's grants do not allow, or a field that cannot be changed", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the client holds admin scopes the token lacks", body = ErrorResponse),
        (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["clients:write"]))
)]
#[patch("/clients/{client_id}")]
async fn patch_client(
    caller: Authorized<ClientsWrite>,
    recorder: ChangeRecorder,
    client_id: web::Path<String>,
    body: web::Json<PatchClientRequest>,
    store: web::Data<Store>,
    cache: web::Data<CredentialCache>,
    origins: web::Data<AllowedOrigins>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client(&client_id)?;
    let client = store
        .find_client(&client_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("client {client_id} does not exist")))?;
    // Grants and public-ness never change, so checking against this read stays valid; the update
    // applies only to this registration of the client.
    let kind = ClientKind {
        grants: &client.grants,
        public: client.is_public(),
    };
    let changes = BrowserChanges::parse(
        BrowserInput {
            client_name: body.client_name.as_deref(),
            redirect_uris: body.redirect_uris.as_deref(),
            allowed_origins: body.allowed_origins.as_deref(),
            skip_consent: body.skip_consent,
            pkce_optional: body.pkce_optional,
            post_logout_redirect_uris: body.post_logout_redirect_uris.as_deref(),
            backchannel_logout_uri: body.backchannel_logout_uri.as_deref(),
            backchannel_logout_session_required: body.backchannel_logout_session_required,
            id_token_signed_response_alg: body.id_token_signed_response_alg.as_deref(),
            require_pushed_authorization_requests: body.require_pushed_authorization_requests,
            introspection_signed_response_alg: body.introspection_signed_response_alg.as_deref(),
            dpop_bound_access_tokens: body.dpop_bound_access_tokens,
            allow_impersonation: body.allow_impersonation,
        },
        kind,
    )?;
    let updated = store
        .update_client_browser(
            &client_id,
            &client.registration,
            &changes,
            &caller.caller.authority(),
        )
        .await;
    let mut client = recorder
        .unless_refused(
            &caller.caller,
            "client.updated",
            client_id.as_str(),
            updated,
        )
        .await?;
    let mut changed = changes.describe();
    if let Some(resources) = &body.resources {
        let resources = ResourceUri::parse_list(resources)?;
        store
            .set_client_resources(&client_id, &resources, &caller.caller.authority())
            .await?;
        client.resources = resources;
        changed = format!("{changed} resources").trim_start().to_owned();
    }
    cache.forget_client(client_id.as_str());
    if changes.allowed_origins.is_some() {
        origins.forget();
    }
    recorder
        .record(
            &caller.caller,
            "client.updated",
            client_id.as_str(),
            Some(changed),
        )
        .await;
    Ok(HttpResponse::Ok().json(ClientResponse::from(client)))
}

/// Replaces a confidential client's secret; the old one stops working at once.
#[utoipa::path(
    tag = "admin",
    params(("client_id" = String, Path, pattern = r"^[A-Za-z0-9._~:-]{1,128}$", description = "client_id")),
    responses(
        (status = 200, body = ClientSecretResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the client holds admin scopes the token lacks", body = ErrorResponse),
        (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["clients:write"]))
)]
#[post("/clients/{client_id}/secret")]
async fn rotate_client_secret(
    caller: Authorized<ClientsWrite>,
    recorder: ChangeRecorder,
    client_id: web::Path<String>,
    store: web::Data<Store>,
    cache: web::Data<CredentialCache>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client(&client_id)?;
    let secret = generate_secret();
    let rotated = store
        .set_client_secret(
            &client_id,
            &hash_secret(&secret),
            &caller.caller.authority(),
        )
        .await;
    recorder
        .unless_refused(
            &caller.caller,
            "client.secret_rotated",
            client_id.as_str(),
            rotated,
        )
        .await?;
    cache.forget_client(client_id.as_str());
    recorder
        .record(
            &caller.caller,
            "client.secret_rotated",
            client_id.as_str(),
            None,
        )
        .await;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ClientSecretResponse {
            client_id: client_id.as_str().to_owned(),
            client_secret: secret,
        }))
}

/// Deletes a client; its refresh tokens go with it and its access tokens stop introspecting.
#[utoipa::path(
    tag = "admin",
    params(("client_id" = String, Path, pattern = r"^[A-Za-z0-9._~:-]{1,128}$", description = "client_id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "a missing scope, or the client holds admin scopes the token lacks", body = ErrorResponse),
        (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["clients:write"]))
)]
#[delete("/clients/{client_id}")]
async fn delete_client(
    caller: Authorized<ClientsWrite>,
    recorder: ChangeRecorder,
    client_id: web::Path<String>,
    store: web::Data<Store>,
    cache: web::Data<CredentialCache>,
    origins: web::Data<AllowedOrigins>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client(&client_id)?;
    let deleted = store
        .delete_client(&client_id, &caller.caller.authority())
        .await;
    recorder
        .unless_refused(
            &caller.caller,
            "client.deleted",
            client_id.as_str(),
            deleted,
        )
        .await?;
    cache.forget_client(client_id.as_str());
    origins.forget();
    recorder
        .record(&caller.caller, "client.deleted", client_id.as_str(), None)
        .await;
    Ok(HttpResponse::NoContent().finish())
}
