//! `POST /token` (RFC 6749): reads the request, authenticates the client, dispatches on the grant.

mod authorization_code;
mod client_credentials;
mod device_code;
pub(crate) mod dpop_binding;
mod id_token;
mod password;
mod refresh_token;
mod response;
mod token_exchange;

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa::openapi::Object;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::credentials::{
    DeviceCookies, LockoutPolicy, PasswordHasher, StillWaiting, authenticate_client,
};
use crate::domain::GrantType;
use crate::dpop::{Dpop, VerifiedProof};
use crate::error::OAuthError;
use crate::mfa::totp::TotpSealer;
use crate::net::liveness::still_waiting;
use crate::resources::ResourceRegistry;
use crate::routes::client_ip::client_ip;
use crate::routes::{FormBody, OAuthForm};
use crate::signin::PageKeys;
use crate::store::{CodeWriter, Store};
use crate::tokens::TokenService;

/// Mounts `/token`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(issue_token);
}

fn client_authentication_required() -> OAuthError {
    OAuthError::InvalidClient {
        description: "client authentication is required".into(),
        basic: false,
    }
}

/// The shared services `/token` uses, gathered once at start-up: a request looks up one app-data
/// value instead of fourteen (each lookup also bumped a reference count that both workers share).
pub struct TokenServices {
    /// Storage.
    pub store: Store,
    /// Password hashing.
    pub hasher: web::Data<PasswordHasher>,
    /// Token signing.
    pub tokens: web::Data<TokenService>,
    /// Settings.
    pub settings: web::Data<Settings>,
    /// Cached users, clients and revocations.
    pub cache: web::Data<CredentialCache>,
    /// Audit trail.
    pub audit: web::Data<AuditLog>,
    /// Brute-force limits.
    pub lockout: web::Data<LockoutPolicy>,
    /// Issues and checks device cookies.
    pub device_cookies: web::Data<DeviceCookies>,
    /// The clock codes expire by.
    pub clock: web::Data<Clock>,
    /// Group commit for code redemptions.
    pub code_writer: web::Data<CodeWriter>,
    /// Opens sealed codes.
    pub page_keys: web::Data<PageKeys>,
    /// Opens stored TOTP secrets.
    pub totp_sealer: web::Data<TotpSealer>,
    /// Registered resources and the scopes they claim (RFC 8707).
    pub resources: web::Data<ResourceRegistry>,
    /// DPoP proof checks (RFC 9449).
    pub dpop: web::Data<Dpop>,
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
    /// Whether the caller is still connected (taken by the one password check).
    pub still_waiting: Option<StillWaiting>,
    /// The request's `Cookie` header (for a device cookie).
    pub cookie_header: Option<String>,
    /// Issues and checks device cookies.
    pub device_cookies: &'a DeviceCookies,
    /// Cached users, clients and revocations.
    pub cache: &'a CredentialCache,
    /// The clock codes expire by.
    pub clock: &'a Clock,
    /// Group commit for code redemptions.
    pub code_writer: &'a CodeWriter,
    /// Opens sealed codes.
    pub page_keys: &'a PageKeys,
    /// Opens stored TOTP secrets.
    pub totp_sealer: &'a TotpSealer,
    /// Registered resources and the scopes they claim (RFC 8707).
    pub resources: &'a ResourceRegistry,
    /// The request's DPoP proof, verified (RFC 9449 section 5).
    pub dpop: Option<&'a VerifiedProof>,
}

/// The form of `POST /token`, for the OpenAPI document; `OAuthForm` parses the real body.
/// Each grant requires its own parameters, so each has its own shape.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // read only by the schema derive
enum TokenRequestForm {
    /// Resource owner password credentials (RFC 6749 section 4.3).
    Password(PasswordGrantForm),
    /// Client credentials (RFC 6749 section 4.4).
    ClientCredentials(ClientCredentialsGrantForm),
    /// Refreshing (RFC 6749 section 6).
    RefreshToken(RefreshTokenGrantForm),
    /// Polling with a device code (RFC 8628 section 3.4).
    DeviceCode(DeviceCodeGrantForm),
    /// Token exchange (RFC 8693); the client must authenticate.
    TokenExchange(TokenExchangeGrantForm),
}

/// `grant_type=password`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct PasswordGrantForm {
    /// `password`.
    #[schema(schema_with = password_grant)]
    grant_type: String,
    /// 1 to 64 letters, digits, `.`, `_`, `-`, `@` (matched NFKC-normalised, case-insensitively).
    #[schema(pattern = r"^[A-Za-z0-9._@-]{1,64}$")]
    username: String,
    /// Up to 1024 bytes of UTF-8.
    #[schema(format = Password, min_length = 1, max_length = 1024)]
    password: String,
    /// The user's one-time code (a TOTP code or a recovery code) when the account has TOTP;
    /// without it such an account gets `mfa_required`.
    #[schema(nullable = false)]
    otp: Option<String>,
    #[serde(flatten)]
    client: ClientFormFields,
}

/// `grant_type=client_credentials`; the client must authenticate.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct ClientCredentialsGrantForm {
    /// `client_credentials`.
    #[schema(schema_with = client_credentials_grant)]
    grant_type: String,
    #[serde(flatten)]
    client: ClientFormFields,
}

/// `grant_type=refresh_token`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct RefreshTokenGrantForm {
    /// `refresh_token`.
    #[schema(schema_with = refresh_token_grant)]
    grant_type: String,
    /// The refresh token.
    #[schema(min_length = 1)]
    refresh_token: String,
    #[serde(flatten)]
    client: ClientFormFields,
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct DeviceCodeGrantForm {
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    #[schema(schema_with = device_code_grant)]
    grant_type: String,
    /// The device code from `/device_authorization`.
    #[schema(min_length = 1)]
    device_code: String,
    #[serde(flatten)]
    client: ClientFormFields,
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 section 2.1).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct TokenExchangeGrantForm {
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    #[schema(schema_with = token_exchange_grant)]
    grant_type: String,
    /// The user's token: an authd access token (issued to this client, or addressed to one of
    /// its resources) or an authd id_token issued to this client.
    #[schema(min_length = 1)]
    subject_token: String,
    /// `urn:ietf:params:oauth:token-type:access_token`, `...:id_token` or `...:jwt`.
    subject_token_type: String,
    /// Who acts for the user: an authd access token issued to this client. Without it the
    /// client impersonates the user, which only clients allowed to may do.
    #[schema(nullable = false)]
    actor_token: Option<String>,
    /// Required with `actor_token`: `urn:ietf:params:oauth:token-type:access_token` or `...:jwt`.
    #[schema(nullable = false)]
    actor_token_type: Option<String>,
    /// Only `urn:ietf:params:oauth:token-type:access_token`.
    #[schema(nullable = false)]
    requested_token_type: Option<String>,
    /// A registered resource URI the token is for (repeat it for several); like `resource`.
    #[schema(nullable = false)]
    audience: Option<String>,
    #[serde(flatten)]
    client: ClientFormFields,
}

/// The optional parameters every grant takes.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // read only by the schema derive
struct ClientFormFields {
    /// Space-delimited scopes; all allowed scopes when absent.
    #[schema(nullable = false, pattern = r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")]
    scope: Option<String>,
    /// Client authentication in the body (or use HTTP Basic, not both).
    #[schema(nullable = false, pattern = r"^[A-Za-z0-9._~:-]{0,128}$")]
    client_id: Option<String>,
    /// Client authentication in the body (or use HTTP Basic, not both).
    #[schema(nullable = false)]
    client_secret: Option<String>,
    /// RFC 8707: the API the access token is for (repeat it for several); it becomes the
    /// token's `aud`. It must be one of the client's resources (on refresh: of the grant's).
    #[schema(nullable = false, format = "uri")]
    resource: Option<String>,
    // RFC 6749 section 3.2: unrecognized parameters are ignored.
    #[serde(flatten)]
    other: HashMap<String, String>,
}

fn grant_type_of(grant: GrantType) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([grant.as_str()]))
        .build()
}

fn password_grant() -> Object {
    grant_type_of(GrantType::Password)
}

fn client_credentials_grant() -> Object {
    grant_type_of(GrantType::ClientCredentials)
}

fn refresh_token_grant() -> Object {
    grant_type_of(GrantType::RefreshToken)
}

fn device_code_grant() -> Object {
    grant_type_of(GrantType::DeviceCode)
}

fn token_exchange_grant() -> Object {
    grant_type_of(GrantType::TokenExchange)
}

/// Issues tokens for the password, client_credentials, refresh_token, authorization_code,
/// device_code and token exchange grants.
#[utoipa::path(
    tag = "oauth",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = response::TokenResponse),
        (status = 400, description = "RFC 6749 section 5.2 error", body = crate::routes::admin::wire::ErrorResponse),
        (status = 401, description = "invalid_client", body = crate::routes::admin::wire::ErrorResponse),
        (status = 429, description = "too many failed logins; retry after `Retry-After` seconds", body = crate::routes::admin::wire::ErrorResponse)
    ),
    security((), ("client_basic" = []))
)]
#[post("/token")]
async fn issue_token(
    request: HttpRequest,
    body: FormBody,
    services: web::Data<TokenServices>,
) -> Result<HttpResponse, OAuthError> {
    let TokenServices {
        store,
        hasher,
        tokens,
        settings,
        cache,
        audit,
        lockout,
        device_cookies,
        clock,
        code_writer,
        page_keys,
        totp_sealer,
        resources,
        dpop,
    } = &**services;
    let form = OAuthForm::parse(&request, &body)?;
    let grant_name = form.require("grant_type")?;
    // Only the wire name: the CLI's short aliases are not grant types on the wire.
    let grant = GrantType::parse(grant_name).map_err(|_| {
        OAuthError::UnsupportedGrantType(format!("grant_type {grant_name:?} is not supported"))
    })?;
    let credentials = form.client_credentials(&request)?;
    let client = authenticate_client(store, cache, &settings.oauth, &credentials).await?;
    if client.anonymous
        && (matches!(
            grant,
            GrantType::ClientCredentials | GrantType::TokenExchange
        ) || settings.oauth.require_client_auth_for_password)
    {
        return Err(client_authentication_required());
    }
    if !client.grants.contains(&grant) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "client {} may not use the {grant} grant",
            client.client_id
        )));
    }
    // Naming a public client is not authenticating: where a grant requires client
    // authentication, only a confidential client's secret counts.
    let must_authenticate = matches!(
        grant,
        GrantType::ClientCredentials | GrantType::TokenExchange
    ) || (grant == GrantType::Password
        && settings.oauth.require_client_auth_for_password);
    if must_authenticate && !client.confidential {
        return Err(client_authentication_required());
    }
    let now = crate::clock::unix_now();
    let proof = dpop.check_token_request(&request, now)?;
    // RFC 9449 section 5.2: such a client never gets a bearer token.
    if proof.is_none() && client.dpop_bound_access_tokens {
        return Err(OAuthError::InvalidDpopProof(format!(
            "client {} must send a DPoP proof",
            client.client_id
        )));
    }
    // Only the password grant hashes (and so asks whether the client still waits) and reads a
    // device cookie; the others skip the allocations.
    let password = grant == GrantType::Password;
    let mut ctx = GrantContext {
        store,
        hasher,
        tokens,
        settings,
        audit,
        lockout,
        ip: client_ip(&request, settings.security.trust_forwarded_for),
        still_waiting: if password {
            still_waiting(&request)
        } else {
            None
        },
        cookie_header: if password {
            request
                .headers()
                .get(actix_web::http::header::COOKIE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        } else {
            None
        },
        device_cookies,
        cache,
        clock,
        code_writer,
        page_keys,
        totp_sealer,
        resources,
        dpop: proof.as_ref(),
    };
    // The common machine grant runs in place; the others are boxed, so that the handler's
    // future (allocated for every request) is the size of this grant's, not of the largest.
    let response = match grant {
        GrantType::ClientCredentials => client_credentials::grant(&form, &client, &ctx).await?,
        GrantType::Password => Box::pin(password::grant(&form, &client, &mut ctx)).await?,
        GrantType::RefreshToken => Box::pin(refresh_token::grant(&form, &client, &ctx)).await?,
        GrantType::AuthorizationCode => {
            Box::pin(authorization_code::grant(&form, &client, &ctx)).await?
        }
        GrantType::DeviceCode => Box::pin(device_code::grant(&form, &client, &ctx)).await?,
        GrantType::TokenExchange => Box::pin(token_exchange::grant(&form, &client, &ctx)).await?,
    };
    let response = if proof.is_some() {
        response.bound_to_dpop_key()
    } else {
        response
    };
    Ok(response.into_http())
}
