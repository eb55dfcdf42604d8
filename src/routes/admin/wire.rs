//! JSON shapes of the admin API and `/me`.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{Array, Object};
use utoipa::{IntoParams, ToSchema};

use crate::clock::rfc3339;
use crate::domain::{
    GrantType, MAX_ALLOWED_ORIGINS, MAX_REDIRECT_URI_BYTES, MAX_REDIRECT_URIS, MAX_RESOURCES,
};
use crate::error::ApiError;
use crate::store::{Client, Consent, PageRequest, Role, SecondFactors, Session, User};

/// Default page size.
const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
const MAX_LIMIT: i64 = 500;

// What the domain parsers accept, for the OpenAPI document. Usernames are NFKC-normalised, so
// the server also takes other scripts; the document promises only the ASCII subset.
const ROLE_PATTERN: &str = r"^[A-Za-z0-9._:-]{1,64}$";
const SCOPE_PATTERN: &str = r"^[\x21\x23-\x5B\x5D-\x7E]+$";

/// The error body every route shares.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// Machine-readable code (RFC 6749 / RFC 6750 codes where they apply).
    pub error: String,
    /// Human-readable detail.
    pub error_description: Option<String>,
}

/// Paging parameters of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl PageQuery {
    /// Validates and applies the defaults.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        page_request(self.limit, self.offset)
    }
}

fn page_request(limit: Option<i64>, offset: Option<i64>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    let offset = offset.unwrap_or(0);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Validation(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    if offset < 0 {
        return Err(ApiError::Validation("offset must not be negative".into()));
    }
    Ok(PageRequest { limit, offset })
}

/// Filters and paging of `GET /admin/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// Only holders of this role.
    #[serde(default, deserialize_with = "printable")]
    #[param(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub role: Option<String>,
    /// Only disabled (true) or enabled (false) users.
    pub disabled: Option<bool>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl UserListQuery {
    /// Validates and applies the paging defaults.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        page_request(self.limit, self.offset)
    }
}

/// `?force=true` on role deletion.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ForceQuery {
    /// Delete even while users hold the role.
    #[serde(default)]
    pub force: bool,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse<T: ToSchema> {
    /// The items.
    pub items: Vec<T>,
    /// Items in the whole list.
    pub total: i64,
    /// Page size used.
    pub limit: i64,
    /// Items skipped.
    pub offset: i64,
}

impl<T: ToSchema> PageResponse<T> {
    /// Wraps items with the paging that produced them.
    pub fn new(items: Vec<T>, total: i64, page: PageRequest) -> Self {
        Self {
            items,
            total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// A user as the admin API shows it: never the hash, only which scheme made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// Stable id, the `sub` of the user's tokens.
    pub id: String,
    /// Normalised username.
    pub username: String,
    /// Email.
    pub email: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// Roles held.
    pub roles: Vec<String>,
    /// Disabled users cannot log in.
    pub disabled: bool,
    /// `argon2id` or `bcrypt` (imported, rehashed at next login).
    pub password_scheme: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The user's second factors.
    pub mfa: MfaResponse,
}

/// A user's second factors, as counts: never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaResponse {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// Registered passkeys.
    pub passkeys: i64,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

impl From<SecondFactors> for MfaResponse {
    fn from(factors: SecondFactors) -> Self {
        Self {
            totp: factors.totp,
            passkeys: factors.passkeys,
            recovery_codes_left: factors.recovery_codes_left,
        }
    }
}

impl UserResponse {
    /// Shapes a user, the scheme of their hash and their second factors.
    pub fn new(user: User, password_scheme: &str, factors: SecondFactors) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            full_name: user.full_name,
            roles: user.roles,
            disabled: user.disabled,
            password_scheme: password_scheme.to_owned(),
            created_at: rfc3339(user.created_at),
            updated_at: rfc3339(user.updated_at),
            mfa: factors.into(),
        }
    }
}

/// `POST /admin/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 1 to 64 letters, digits, `.`, `_`, `-`, `@`; stored NFKC-normalised and lower-cased.
    #[schema(pattern = r"^[A-Za-z0-9._@-]{1,64}$")]
    pub username: String,
    /// At least 8 characters, at most 1024 bytes of UTF-8.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024)]
    pub password: SecretString,
    /// Email.
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// Full name, without control characters.
    #[serde(default, deserialize_with = "printable")]
    #[schema(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$", max_length = 256)]
    pub full_name: Option<String>,
    /// Roles to assign; each must exist (400 otherwise).
    #[serde(default)]
    #[schema(schema_with = role_list)]
    pub roles: Vec<String>,
    /// Create disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// `PATCH /admin/users/{username}`: absent fields stay, `null` clears email and full name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserRequest {
    /// New email, or null to clear.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub email: Option<Option<String>>,
    /// New full name, or null to clear; no control characters.
    #[serde(default, deserialize_with = "present_printable")]
    #[schema(value_type = Option<String>, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$", max_length = 256)]
    pub full_name: Option<Option<String>>,
    /// Replace the roles; each must exist (400 otherwise).
    #[schema(schema_with = nullable_role_list)]
    pub roles: Option<Vec<String>>,
    /// Disable (ends sessions) or enable.
    pub disabled: Option<bool>,
    /// New password (ends sessions): at least 8 characters, at most 1024 bytes of UTF-8.
    #[schema(value_type = Option<String>, format = Password, min_length = 8, max_length = 1024)]
    pub password: Option<SecretString>,
}

// Free text that reaches the database: PostgreSQL cannot store NUL in `text` (a 500 otherwise),
// and no name or filter has a use for control characters.
/// Longest free-text field (full names, filters).
const MAX_TEXT_CHARS: usize = 256;

pub(super) fn printable<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    let text = Option::<String>::deserialize(deserializer)?;
    if text
        .as_deref()
        .is_some_and(|t| t.chars().any(char::is_control))
    {
        return Err(serde::de::Error::custom(
            "text must not contain control characters",
        ));
    }
    if text
        .as_deref()
        .is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS)
    {
        return Err(serde::de::Error::custom(format!(
            "text must be at most {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(text)
}

// `present` for free text.
fn present_printable<'de, D>(deserializer: D) -> Result<Option<Option<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    printable(deserializer).map(Some)
}

// Distinguishes an explicit `null` (Some(None)) from an absent field (None).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A role and its scopes.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleResponse {
    /// Role name.
    pub name: String,
    /// Scopes granted to holders.
    pub scopes: Vec<String>,
    /// Holders must sign in with a second factor (TOTP or a passkey).
    pub require_mfa: bool,
}

impl From<Role> for RoleResponse {
    fn from(role: Role) -> Self {
        Self {
            name: role.name,
            scopes: role.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            require_mfa: role.require_mfa,
        }
    }
}

/// `PUT /admin/roles/{name}`: replaces everything about the role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRoleRequest {
    /// The role's complete set of scopes.
    #[schema(schema_with = scope_list)]
    pub scopes: Vec<String>,
    /// Holders must sign in with a second factor; absent means `false`, so a PUT without it
    /// clears the requirement.
    #[serde(default)]
    pub require_mfa: bool,
}

/// A client as the admin API shows it: never a secret or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientResponse {
    /// client_id.
    pub client_id: String,
    /// Grant types it may use.
    pub grants: Vec<String>,
    /// Scopes it may obtain.
    pub scopes: Vec<String>,
    /// Public clients have no secret.
    pub public: bool,
    /// Shown on the consent page; empty means the client_id is shown.
    pub client_name: String,
    /// Where authorization codes may be sent.
    pub redirect_uris: Vec<String>,
    /// Browser origins allowed to call `/token`, `/revoke` and the discovery documents (CORS).
    pub allowed_origins: Vec<String>,
    /// A first-party client: people are not asked for consent.
    pub skip_consent: bool,
    /// A confidential client that may omit PKCE when it sends `openid` and a `nonce`.
    pub pkce_optional: bool,
    /// Where RP-Initiated Logout may send the browser back.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where logout tokens are POSTed (Back-Channel Logout 1.0); null when none.
    pub backchannel_logout_uri: Option<String>,
    /// Whether the client needs `sid` in logout tokens (authd always sends it).
    pub backchannel_logout_session_required: bool,
    /// JWS algorithm of the client's id_tokens: RS256, ES256 or EdDSA.
    pub id_token_signed_response_alg: String,
    /// The resources (RFC 8707) it may ask tokens for.
    pub resources: Vec<String>,
    /// Whether `/authorize` takes this client's requests only through `/par` (RFC 9126).
    pub require_pushed_authorization_requests: bool,
    /// JWS algorithm of its JWT introspection responses (RFC 9701); null for the server's
    /// default (the access tokens' algorithm).
    pub introspection_signed_response_alg: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449 section 5.2).
    pub dpop_bound_access_tokens: bool,
    /// It may exchange a user's token without an actor token (RFC 8693 impersonation).
    pub allow_impersonation: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<Client> for ClientResponse {
    fn from(client: Client) -> Self {
        let browser = client.browser.clone();
        Self {
            public: client.is_public(),
            client_name: browser.client_name,
            redirect_uris: browser
                .redirect_uris
                .iter()
                .map(|uri| uri.as_str().to_owned())
                .collect(),
            allowed_origins: browser.allowed_origins,
            skip_consent: browser.skip_consent,
            pkce_optional: browser.pkce_optional,
            post_logout_redirect_uris: browser
                .post_logout_redirect_uris
                .iter()
                .map(|uri| uri.as_str().to_owned())
                .collect(),
            backchannel_logout_uri: browser
                .backchannel_logout_uri
                .map(|uri| uri.as_str().to_owned()),
            backchannel_logout_session_required: browser.backchannel_logout_session_required,
            id_token_signed_response_alg: browser.id_token_signed_response_alg.as_str().to_owned(),
            require_pushed_authorization_requests: browser.require_pushed_authorization_requests,
            introspection_signed_response_alg: browser
                .introspection_signed_response_alg
                .as_str()
                .map(str::to_owned),
            dpop_bound_access_tokens: browser.dpop_bound_access_tokens,
            allow_impersonation: browser.allow_impersonation,
            client_id: client.client_id,
            grants: client
                .grants
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scopes: client
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            resources: client
                .resources
                .iter()
                .map(|uri| uri.as_str().to_owned())
                .collect(),
            created_at: rfc3339(client.created_at),
        }
    }
}

/// A newly registered client; `client_secret` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClientResponse {
    /// The client.
    #[serde(flatten)]
    pub client: ClientResponse,
    /// The secret, for confidential clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// `POST /admin/clients`; documented as `CreateClientSchema`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// client_id.
    pub client_id: String,
    /// Grant types: authorization_code, password, client_credentials, refresh_token,
    /// urn:ietf:params:oauth:grant-type:token-exchange (or `token-exchange`).
    pub grants: Vec<String>,
    /// Scopes the client may obtain.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// No secret; no client_credentials grant.
    #[serde(default)]
    pub public: bool,
    /// Display name.
    #[serde(default, deserialize_with = "printable")]
    pub client_name: Option<String>,
    /// Redirect URIs (authorization_code clients need at least one).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Browser origins for CORS.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// No consent page.
    #[serde(default)]
    pub skip_consent: bool,
    /// PKCE optional (confidential clients only).
    #[serde(default)]
    pub pkce_optional: bool,
    /// Where RP-Initiated Logout may return.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-Channel Logout URI.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid`.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// RS256 (default), ES256 or EdDSA.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Resources (RFC 8707) it may ask tokens for.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Requests only through `/par`.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RS256, ES256 or EdDSA; absent or empty for the server's default.
    #[serde(default)]
    pub introspection_signed_response_alg: Option<String>,
    /// Require a DPoP proof with every token request.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// Let it exchange a user's token without an actor token (RFC 8693 impersonation).
    #[serde(default)]
    pub allow_impersonation: bool,
}

/// `PATCH /admin/clients/{client_id}`: absent fields stay. Lists replace the registered ones.
/// Grants, scopes and the secret cannot be changed here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchClientRequest {
    /// New display name (empty: the client_id is shown); no control characters.
    #[serde(default, deserialize_with = "printable")]
    #[schema(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$", max_length = 128)]
    pub client_name: Option<String>,
    /// The complete new list of redirect URIs (at least one for authorization_code clients).
    #[schema(schema_with = redirect_uri_list)]
    pub redirect_uris: Option<Vec<String>>,
    /// The complete new list of browser origins (`scheme://host[:port]`).
    #[schema(schema_with = origin_list)]
    pub allowed_origins: Option<Vec<String>>,
    /// Skip the consent page (authorization_code clients only).
    pub skip_consent: Option<bool>,
    /// Let the client omit PKCE with `openid` and a `nonce` (confidential authorization_code
    /// clients only).
    pub pkce_optional: Option<bool>,
    /// The complete new list of post-logout redirect URIs (same rules as redirect URIs).
    #[schema(schema_with = redirect_uri_list)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// New Back-Channel Logout URI (https, or http on a loopback host); empty removes it.
    #[schema(max_length = 2048)]
    pub backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid`.
    pub backchannel_logout_session_required: Option<bool>,
    /// RS256, ES256 or EdDSA; empty means the default (RS256).
    #[schema(pattern = r"^(|RS256|ES256|EdDSA)$")]
    pub id_token_signed_response_alg: Option<String>,
    /// The complete new list of resources (RFC 8707) it may ask tokens for.
    #[schema(schema_with = resource_list)]
    pub resources: Option<Vec<String>>,
    /// Whether `/authorize` takes this client's requests only through `/par` (authorization_code
    /// clients only).
    pub require_pushed_authorization_requests: Option<bool>,
    /// JWS algorithm of its JWT introspection responses: RS256, ES256 or EdDSA; empty means the
    /// server's default (confidential clients only).
    #[schema(pattern = r"^(|RS256|ES256|EdDSA)$")]
    pub introspection_signed_response_alg: Option<String>,
    /// Require a DPoP proof with every token request (RFC 9449 section 5.2).
    pub dpop_bound_access_tokens: Option<bool>,
    /// Let it exchange a user's token without an actor token (RFC 8693 impersonation;
    /// confidential clients with the token-exchange grant only).
    pub allow_impersonation: Option<bool>,
}

/// `POST /admin/clients` as the document shows it: public clients may not use
/// client_credentials, which the server refuses with 400, so each kind has its own shape.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = CreateClientRequest)]
#[allow(dead_code)] // read only by the schema derive
pub enum CreateClientSchema {
    /// A client with a secret.
    Confidential(ConfidentialClientRequest),
    /// A client without a secret.
    Public(PublicClientRequest),
}

/// A confidential client: it gets a secret and may use any grant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only by the schema derive
pub struct ConfidentialClientRequest {
    /// 1 to 128 letters, digits, `.`, `_`, `~`, `:`, `-`.
    #[schema(pattern = r"^[A-Za-z0-9._~:-]{1,128}$")]
    client_id: String,
    /// Grant types: authorization_code, password, client_credentials, refresh_token.
    #[schema(schema_with = grant_list)]
    grants: Vec<String>,
    /// Scopes the client may obtain.
    #[serde(default)]
    #[schema(schema_with = scope_list)]
    scopes: Vec<String>,
    /// False or absent.
    #[serde(default)]
    #[schema(schema_with = always_false)]
    public: bool,
    /// Display name, shown on the consent page.
    #[serde(default)]
    #[schema(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$", max_length = 128)]
    client_name: Option<String>,
    /// Redirect URIs: required (one or more) with authorization_code, refused without it.
    #[serde(default)]
    #[schema(schema_with = redirect_uri_list)]
    redirect_uris: Vec<String>,
    /// Browser origins for CORS (authorization_code clients only).
    #[serde(default)]
    #[schema(schema_with = origin_list)]
    allowed_origins: Vec<String>,
    /// No consent page (authorization_code clients only).
    #[serde(default)]
    skip_consent: bool,
    /// May omit PKCE when it sends `openid` and a `nonce` (authorization_code clients only).
    #[serde(default)]
    pkce_optional: bool,
    /// Where RP-Initiated Logout may return (authorization_code clients only).
    #[serde(default)]
    #[schema(schema_with = redirect_uri_list)]
    post_logout_redirect_uris: Vec<String>,
    /// Back-Channel Logout URI: https, or http on a loopback host (authorization_code clients
    /// only).
    #[serde(default)]
    #[schema(max_length = 2048)]
    backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid` (authorization_code clients only).
    #[serde(default)]
    backchannel_logout_session_required: bool,
    /// RS256 (default), ES256 or EdDSA.
    #[serde(default)]
    #[schema(pattern = r"^(|RS256|ES256|EdDSA)$")]
    id_token_signed_response_alg: Option<String>,
    /// Resources (RFC 8707) it may ask tokens for: absolute URIs without a fragment.
    #[serde(default)]
    #[schema(schema_with = resource_list)]
    resources: Vec<String>,
    /// Requests only through `/par` (authorization_code clients only).
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    /// JWS algorithm of its JWT introspection responses: RS256, ES256 or EdDSA; absent or empty
    /// for the server's default.
    #[serde(default)]
    #[schema(pattern = r"^(|RS256|ES256|EdDSA)$")]
    introspection_signed_response_alg: Option<String>,
    /// Require a DPoP proof with every token request (RFC 9449 section 5.2).
    #[serde(default)]
    dpop_bound_access_tokens: bool,
    /// Let it exchange a user's token without an actor token (RFC 8693 impersonation; needs
    /// the token-exchange grant).
    #[serde(default)]
    allow_impersonation: bool,
}

/// A public client: no secret, no client_credentials grant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only by the schema derive
pub struct PublicClientRequest {
    /// 1 to 128 letters, digits, `.`, `_`, `~`, `:`, `-`.
    #[schema(pattern = r"^[A-Za-z0-9._~:-]{1,128}$")]
    client_id: String,
    /// Grant types: authorization_code, password, refresh_token.
    #[schema(schema_with = public_grant_list)]
    grants: Vec<String>,
    /// Scopes the client may obtain.
    #[serde(default)]
    #[schema(schema_with = scope_list)]
    scopes: Vec<String>,
    /// True.
    #[schema(schema_with = always_true)]
    public: bool,
    /// Display name, shown on the consent page.
    #[serde(default)]
    #[schema(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$", max_length = 128)]
    client_name: Option<String>,
    /// Redirect URIs: required (one or more) with authorization_code, refused without it.
    #[serde(default)]
    #[schema(schema_with = redirect_uri_list)]
    redirect_uris: Vec<String>,
    /// Browser origins for CORS (authorization_code clients only).
    #[serde(default)]
    #[schema(schema_with = origin_list)]
    allowed_origins: Vec<String>,
    /// No consent page (authorization_code clients only).
    #[serde(default)]
    skip_consent: bool,
    /// False or absent: a public client always uses PKCE.
    #[serde(default)]
    #[schema(schema_with = always_false)]
    pkce_optional: bool,
    /// Where RP-Initiated Logout may return (authorization_code clients only).
    #[serde(default)]
    #[schema(schema_with = redirect_uri_list)]
    post_logout_redirect_uris: Vec<String>,
    /// Back-Channel Logout URI: https, or http on a loopback host (authorization_code clients
    /// only).
    #[serde(default)]
    #[schema(max_length = 2048)]
    backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid` (authorization_code clients only).
    #[serde(default)]
    backchannel_logout_session_required: bool,
    /// RS256 (default), ES256 or EdDSA.
    #[serde(default)]
    #[schema(pattern = r"^(|RS256|ES256|EdDSA)$")]
    id_token_signed_response_alg: Option<String>,
    /// Resources (RFC 8707) it may ask tokens for: absolute URIs without a fragment.
    #[serde(default)]
    #[schema(schema_with = resource_list)]
    resources: Vec<String>,
    /// Requests only through `/par` (authorization_code clients only).
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    /// Require a DPoP proof with every token request (RFC 9449 section 5.2).
    #[serde(default)]
    dpop_bound_access_tokens: bool,
}

fn string_matching(pattern: &str, max_length: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .max_length(Some(max_length))
}

fn role_list() -> Array {
    ArrayBuilder::new()
        .items(string_matching(ROLE_PATTERN, 64))
        .build()
}

fn nullable_role_list() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(string_matching(ROLE_PATTERN, 64))
        .build()
}

fn scope_list() -> Array {
    ArrayBuilder::new()
        .items(string_matching(SCOPE_PATTERN, 128))
        .build()
}

fn grants_of(grants: &[GrantType]) -> Array {
    let names = grants.iter().map(|g| g.as_str());
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
        )
        .min_items(Some(1))
        .build()
}

fn grant_list() -> Array {
    grants_of(&GrantType::ALL)
}

fn public_grant_list() -> Array {
    grants_of(&[
        GrantType::AuthorizationCode,
        GrantType::Password,
        GrantType::RefreshToken,
    ])
}

fn redirect_uri_list() -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("uri".into())))
                .max_length(Some(MAX_REDIRECT_URI_BYTES)),
        )
        .max_items(Some(MAX_REDIRECT_URIS))
        .build()
}

/// Resource indicators (RFC 8707): absolute URIs without a fragment.
pub(super) fn resource_list() -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("uri".into())))
                .max_length(Some(MAX_REDIRECT_URI_BYTES)),
        )
        .max_items(Some(MAX_RESOURCES))
        .build()
}

fn origin_list() -> Array {
    ArrayBuilder::new()
        .items(string_matching(r"^https?://[^/?#\s]+$", 300))
        .max_items(Some(MAX_ALLOWED_ORIGINS))
        .build()
}

fn boolean_of(value: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([value]))
        .build()
}

fn always_false() -> Object {
    boolean_of(false)
}

fn always_true() -> Object {
    boolean_of(true)
}

/// A rotated client secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecretResponse {
    /// client_id.
    pub client_id: String,
    /// The new secret; the old one no longer works.
    pub client_secret: String,
}

/// `GET /me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Email.
    pub email: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// Roles held now.
    pub roles: Vec<String>,
    /// This token's scopes, space-delimited.
    pub scope: String,
    /// How the user signed in for this token (RFC 8176 values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The strength of that sign-in (`urn:authd:acr:pwd` or `urn:authd:acr:mfa`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// When the user signed in, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

/// A user's browser session as the admin API shows it (never its cookie).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Public handle of the session.
    pub handle: String,
    /// RFC 3339: when it started.
    pub created_at: String,
    /// RFC 3339: when it was last used (to the minute).
    pub last_seen_at: String,
    /// RFC 3339: the absolute timeout.
    pub expires_at: String,
    /// RFC 3339: when the person last proved who they are.
    pub auth_time: String,
    /// How they proved it (RFC 8176 values).
    pub amr: Vec<String>,
    /// Where they signed in from.
    pub ip: Option<String>,
}

impl From<Session> for SessionResponse {
    fn from(session: Session) -> Self {
        Self {
            handle: session.handle,
            created_at: rfc3339(session.created_at),
            last_seen_at: rfc3339(session.last_seen_at),
            expires_at: rfc3339(session.expires_at),
            auth_time: rfc3339(session.auth_time),
            amr: session.amr.split_whitespace().map(str::to_owned).collect(),
            ip: session.ip,
        }
    }
}

/// A consent a user gave a client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentResponse {
    /// The client.
    pub client_id: String,
    /// Scopes approved.
    pub scopes: Vec<String>,
    /// RFC 3339: when it was last extended.
    pub granted_at: String,
}

impl From<Consent> for ConsentResponse {
    fn from(consent: Consent) -> Self {
        Self {
            client_id: consent.client_id,
            scopes: consent
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            granted_at: rfc3339(consent.granted_at),
        }
    }
}
