//! `/admin/users/{username}/sessions` and `/admin/users/{username}/consents`: a person's browser
//! sessions and the consents they gave, listed and ended by an admin.

use actix_web::{HttpResponse, delete, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::users::path_username;
use super::wire::{ConsentResponse, ErrorResponse, PageQuery, PageResponse, SessionResponse};
use super::{ChangeRecorder, UsersRead, UsersWrite};
use crate::auth::Authorized;
use crate::clock::Clock;
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::domain::ClientId;
use crate::error::ApiError;
use crate::signin::sessions::end_sessions;
use crate::store::{SessionSelection, Store, User, paginate};

/// Mounts the session and consent routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_user_sessions)
        .service(end_user_sessions)
        .service(list_user_consents)
        .service(revoke_user_consent);
}

/// The user a path names (a username that cannot be valid cannot exist either).
async fn path_user(store: &Store, raw: &str) -> Result<User, ApiError> {
    let username = path_username(raw)?;
    store
        .find_user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {raw:.64} does not exist")))
}

/// The user's live browser sessions, newest first.
#[utoipa::path(
    tag = "admin",
    params(
        ("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)"),
        PageQuery
    ),
    responses(
        (status = 200, body = PageResponse<SessionResponse>),
        (status = 400, description = "bad paging or an unknown parameter", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["users:read"]))
)]
#[get("/users/{username}/sessions")]
async fn list_user_sessions(
    _: Authorized<UsersRead>,
    username: web::Path<String>,
    query: web::Query<PageQuery>,
    store: web::Data<Store>,
    settings: web::Data<Settings>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let user = path_user(&store, &username).await?;
    let idle_secs = i64::try_from(settings.sessions.idle_secs).unwrap_or(i64::MAX);
    let sessions = store
        .list_user_sessions(&user.id, clock.now(), idle_secs)
        .await?;
    let found = paginate(sessions, page);
    let items = found.items.into_iter().map(SessionResponse::from).collect();
    Ok(HttpResponse::Ok().json(PageResponse::new(items, found.total, page)))
}

/// Ends every browser session of the user; their next visit asks them to sign in.
#[utoipa::path(
    tag = "admin",
    params(("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)")),
    responses(
        (status = 204, description = "ended (also when there were none)"),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["users:write"]))
)]
#[delete("/users/{username}/sessions")]
async fn end_user_sessions(
    caller: Authorized<UsersWrite>,
    recorder: ChangeRecorder,
    username: web::Path<String>,
    store: web::Data<Store>,
    cache: web::Data<CredentialCache>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ApiError> {
    let user = path_user(&store, &username).await?;
    let allowed = store
        .may_act_on_user(&user.id, &user.username, &caller.caller.authority())
        .await;
    recorder
        .unless_refused(
            &caller.caller,
            "session.ended_by_admin",
            &user.username,
            allowed,
        )
        .await?;
    let ended = end_sessions(&store, &cache, &settings, SessionSelection::User(&user.id))
        .await?
        .len();
    cache.forget_sessions_of(&user.id);
    recorder
        .record(
            &caller.caller,
            "session.ended_by_admin",
            &user.username,
            Some(format!("sessions={ended}")),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// The consents the user gave, by client_id.
#[utoipa::path(
    tag = "admin",
    params(
        ("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)"),
        PageQuery
    ),
    responses(
        (status = 200, body = PageResponse<ConsentResponse>),
        (status = 400, description = "bad paging or an unknown parameter", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)
    ),
    security(("bearer" = ["users:read"]))
)]
#[get("/users/{username}/consents")]
async fn list_user_consents(
    _: Authorized<UsersRead>,
    username: web::Path<String>,
    query: web::Query<PageQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let user = path_user(&store, &username).await?;
    let found = paginate(store.list_consents(&user.id).await?, page);
    let items = found.items.into_iter().map(ConsentResponse::from).collect();
    Ok(HttpResponse::Ok().json(PageResponse::new(items, found.total, page)))
}

/// Withdraws the user's consent for a client, with the refresh tokens it produced and its codes
/// not yet exchanged; the client must ask the person again.
#[utoipa::path(
    tag = "admin",
    params(
        ("username" = String, Path, pattern = r"^[A-Za-z0-9._@-]{1,64}$", description = "Username (matched case-insensitively)"),
        ("client_id" = String, Path, pattern = r"^[A-Za-z0-9._~:-]{1,128}$", description = "client_id")
    ),
    responses(
        (status = 204, description = "revoked"),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, description = "no such user, or no consent for that client", body = ErrorResponse)
    ),
    security(("bearer" = ["users:write"]))
)]
#[delete("/users/{username}/consents/{client_id}")]
async fn revoke_user_consent(
    caller: Authorized<UsersWrite>,
    recorder: ChangeRecorder,
    path: web::Path<(String, String)>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let (username, client_id) = path.into_inner();
    let user = path_user(&store, &username).await?;
    let no_consent = || {
        ApiError::NotFound(format!(
            "user {} has no consent for client {client_id:.128}",
            user.username
        ))
    };
    let client_id = ClientId::parse(&client_id).map_err(|_| no_consent())?;
    let allowed = store
        .may_act_on_user(&user.id, &user.username, &caller.caller.authority())
        .await;
    recorder
        .unless_refused(&caller.caller, "consent.revoked", &user.username, allowed)
        .await?;
    if !store.revoke_consent(&user.id, client_id.as_str()).await? {
        return Err(no_consent());
    }
    recorder
        .record(
            &caller.caller,
            "consent.revoked",
            &user.username,
            Some(format!("client={client_id}")),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
