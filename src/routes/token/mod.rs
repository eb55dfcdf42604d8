//! `POST /token` (RFC 6749): reads the request, authenticates the client, dispatches on the grant.

mod client_credentials;
mod password;
mod refresh_token;
mod response;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, post, web};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::AuditLog;
use crate::config::Settings;
use crate::credentials::{LockoutPolicy, PasswordHasher, authenticate_client};
use crate::domain::GrantType;
use crate::error::OAuthError;
use crate::routes::OAuthForm;
use crate::routes::client_ip::client_ip;
use crate::store::Store;
use crate::tokens::TokenService;

/// Mounts `/token`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(issue_token);
}

/// What a grant may need, borrowed from the app's shared state for one request.
pub struct GrantContext<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Password hashing.
    pub hasher: &'a PasswordHasher,
    /// Token signing.
    pub tokens: &'a TokenService,
    /// Settings.
    pub settings: &'a Settings,
    /// Audit trail.
    pub audit: &'a AuditLog,
    /// Brute-force limits.
    pub lockout: &'a LockoutPolicy,
    /// The caller's address.
    pub ip: Option<String>,
}

/// The form of `POST /token`, for the OpenAPI document; `OAuthForm` parses the real body.
#[derive(ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct TokenRequestForm {
    /// `password`, `client_credentials` or `refresh_token`.
    grant_type: String,
    /// Password grant.
    username: Option<String>,
    /// Password grant.
    password: Option<String>,
    /// Refresh token grant.
    refresh_token: Option<String>,
    /// Space-delimited scopes; all allowed scopes when absent.
    scope: Option<String>,
    /// Client authentication in the body (or use HTTP Basic).
    client_id: Option<String>,
    /// Client authentication in the body (or use HTTP Basic).
    client_secret: Option<String>,
}

/// Issues tokens for the password, client_credentials and refresh_token grants.
#[utoipa::path(
    tag = "oauth",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = response::TokenResponse),
        (status = 400, description = "RFC 6749 section 5.2 error", body = crate::routes::admin::wire::ErrorResponse),
        (status = 401, description = "invalid_client", body = crate::routes::admin::wire::ErrorResponse),
        (status = 413, description = "body too large")
    ),
    security((), ("client_basic" = []))
)]
#[post("/token")]
#[allow(clippy::too_many_arguments)] // one actix extractor per shared service
async fn issue_token(
    request: HttpRequest,
    body: Bytes,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    tokens: web::Data<TokenService>,
    settings: web::Data<Settings>,
    audit: web::Data<AuditLog>,
    lockout: web::Data<LockoutPolicy>,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::parse(&request, &body)?;
    let grant_name = form.require("grant_type")?;
    let grant = GrantType::parse(grant_name).map_err(|_| {
        OAuthError::UnsupportedGrantType(format!("grant_type {grant_name:?} is not supported"))
    })?;
    let credentials = form.client_credentials(&request)?;
    let client = authenticate_client(&store, &settings.oauth, &credentials).await?;
    if client.anonymous
        && (grant == GrantType::ClientCredentials
            || settings.oauth.require_client_auth_for_password)
    {
        return Err(OAuthError::InvalidClient {
            description: "client authentication is required".into(),
            basic: false,
        });
    }
    if !client.grants.contains(&grant) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "client {} may not use the {grant} grant",
            client.client_id
        )));
    }
    let ctx = GrantContext {
        store: &store,
        hasher: &hasher,
        tokens: &tokens,
        settings: &settings,
        audit: &audit,
        lockout: &lockout,
        ip: client_ip(&request, settings.security.trust_forwarded_for),
    };
    let response = match grant {
        GrantType::Password => password::grant(&form, &client, &ctx).await?,
        GrantType::ClientCredentials => client_credentials::grant(&form, &client, &ctx).await?,
        GrantType::RefreshToken => refresh_token::grant(&form, &client, &ctx).await?,
    };
    Ok(response.into_http())
}
