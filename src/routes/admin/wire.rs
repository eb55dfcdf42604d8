//! JSON shapes of the admin API and `/me`.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::store::{Client, PageRequest, Role, User};

/// Default page size.
const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
const MAX_LIMIT: i64 = 500;

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
    pub limit: Option<i64>,
    /// Items to skip (default 0).
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
    pub role: Option<String>,
    /// Only disabled (true) or enabled (false) users.
    pub disabled: Option<bool>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
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
}

impl UserResponse {
    /// Shapes a user and the scheme of their hash.
    pub fn new(user: User, password_scheme: &str) -> Self {
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
        }
    }
}

/// `POST /admin/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 1 to 64 letters, digits, `.`, `_`, `-`, `@`; stored NFKC-normalised and lower-cased.
    pub username: String,
    /// At least 8 characters, at most 1024 bytes.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Email.
    pub email: Option<String>,
    /// Full name.
    #[serde(default, deserialize_with = "printable")]
    pub full_name: Option<String>,
    /// Roles to assign; each must exist.
    #[serde(default)]
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
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// New full name, or null to clear.
    #[serde(default, deserialize_with = "present_printable")]
    #[schema(value_type = Option<String>)]
    pub full_name: Option<Option<String>>,
    /// Replace the roles.
    pub roles: Option<Vec<String>>,
    /// Disable (ends sessions) or enable.
    pub disabled: Option<bool>,
    /// New password (ends sessions).
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
}

// Free text that reaches the database: PostgreSQL cannot store NUL in `text` (a 500 otherwise),
// and no name or filter has a use for control characters.
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
}

impl From<Role> for RoleResponse {
    fn from(role: Role) -> Self {
        Self {
            name: role.name,
            scopes: role.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        }
    }
}

/// `PUT /admin/roles/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRoleRequest {
    /// The role's complete set of scopes.
    pub scopes: Vec<String>,
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
    /// RFC 3339.
    pub created_at: String,
}

impl From<Client> for ClientResponse {
    fn from(client: Client) -> Self {
        Self {
            public: client.is_public(),
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

/// `POST /admin/clients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// client_id.
    pub client_id: String,
    /// Grant types: password, client_credentials, refresh_token.
    pub grants: Vec<String>,
    /// Scopes the client may obtain.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// No secret; password and refresh_token grants only.
    #[serde(default)]
    pub public: bool,
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
}
