//! `POST /device_authorization` (RFC 8628 section 3.1): a device client asks for a device code
//! and a user code.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::Clock;
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::credentials::authenticate_named_client;
use crate::device::start_authorization;
use crate::domain::{GrantType, ScopeSet};
use crate::error::OAuthError;
use crate::resources::requested_target;
use crate::routes::client_ip::client_ip;
use crate::routes::{FormBody, OAuthForm};
use crate::store::Store;
use crate::tokens::TokenService;

/// Mounts `/device_authorization`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(start_device_authorization);
}

/// Section 3.2 response.
#[derive(Serialize, ToSchema)]
struct DeviceAuthorizationResponse {
    /// The polling client's secret, for `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
    device_code: String,
    /// What the person enters at `verification_uri`: eight letters, shown `XXXX-XXXX`.
    #[schema(example = "WDJB-MJHT")]
    user_code: String,
    /// Where the person enters it (`/device`).
    verification_uri: String,
    /// `verification_uri` with the code filled in, e.g. for a QR code.
    verification_uri_complete: String,
    /// Seconds both codes live.
    expires_in: i64,
    /// Seconds to wait between polls of `/token`.
    interval: i64,
}

/// The form of `POST /device_authorization`, for the OpenAPI document.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct DeviceAuthorizationForm {
    /// A public client names itself; a confidential one may authenticate with HTTP Basic instead.
    #[schema(nullable = false, pattern = r"^[A-Za-z0-9._~:-]{0,128}$")]
    client_id: Option<String>,
    /// For confidential clients, unless they use HTTP Basic.
    #[schema(nullable = false)]
    client_secret: Option<String>,
    /// Space-delimited scopes, each registered for the client; all of them when absent.
    #[schema(nullable = false, pattern = r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")]
    scope: Option<String>,
    /// RFC 8707: an API the tokens are for (repeat for several), one of the client's resources.
    #[schema(nullable = false, format = "uri")]
    resource: Option<String>,
}

/// Issues a device code and a user code (RFC 8628 section 3.2).
#[utoipa::path(
    tag = "oauth",
    request_body(content = DeviceAuthorizationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = DeviceAuthorizationResponse),
        (status = 400, description = "RFC 6749 section 5.2 error", body = crate::routes::admin::wire::ErrorResponse),
        (status = 401, description = "invalid_client", body = crate::routes::admin::wire::ErrorResponse)
    ),
    security((), ("client_basic" = []))
)]
#[post("/device_authorization")]
#[allow(clippy::too_many_arguments)] // one actix extractor per shared service
async fn start_device_authorization(
    request: HttpRequest,
    body: FormBody,
    store: web::Data<Store>,
    tokens: web::Data<TokenService>,
    settings: web::Data<Settings>,
    cache: web::Data<CredentialCache>,
    clock: web::Data<Clock>,
    audit: web::Data<AuditLog>,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::parse(&request, &body)?;
    let credentials = form.client_credentials(&request)?;
    // Section 3.1: client authentication as at /token; a public client names itself.
    let client = authenticate_named_client(&store, &cache, &settings.oauth, &credentials).await?;
    // The built-in public client has no registration: nothing to show on the approval page.
    let registered_scopes = client
        .scopes
        .as_ref()
        .filter(|_| !client.registration.is_empty());
    let Some(registered_scopes) =
        registered_scopes.filter(|_| client.grants.contains(&GrantType::DeviceCode))
    else {
        return Err(OAuthError::UnauthorizedClient(format!(
            "client {} may not use the device_code grant",
            client.client_id
        )));
    };
    let scope = match form.get("scope") {
        None => None,
        Some(raw) => {
            let asked =
                ScopeSet::parse(raw).map_err(|e| OAuthError::InvalidScope(e.to_string()))?;
            let refused = asked.difference(registered_scopes);
            if !refused.is_empty() {
                return Err(OAuthError::InvalidScope(format!(
                    "scope not allowed: {refused}"
                )));
            }
            Some(asked)
        }
    };
    let resources =
        requested_target(form.get_all("resource"), &client.resources)?.unwrap_or_default();
    let now = clock.now();
    let Some(issued) = start_authorization(
        &store,
        &settings.oauth,
        &client,
        scope.as_ref(),
        &resources,
        now,
    )
    .await?
    else {
        log::warn!(
            "client {} holds oauth.device_codes_per_client live device codes",
            client.client_id
        );
        return Err(OAuthError::TemporarilyUnavailable);
    };
    let event = AuditEvent::new("device.authorization_started")
        .client(&client.client_id)
        .ip(client_ip(&request, settings.security.trust_forwarded_for))
        .detail(format!(
            "scope={}",
            scope
                .as_ref()
                .map_or_else(|| "*".to_owned(), ScopeSet::to_string)
        ));
    audit.record(event).await;
    let verification_uri = format!("{}/device", tokens.issuer().trim_end_matches('/'));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(DeviceAuthorizationResponse {
            device_code: issued.device_code,
            user_code: issued.user_code.display(),
            verification_uri_complete: format!(
                "{verification_uri}?user_code={}",
                issued.user_code.as_str()
            ),
            verification_uri,
            expires_in: issued.expires_in,
            interval: issued.interval,
        }))
}
