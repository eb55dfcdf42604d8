//! What the store reads and writes, as plain records.

use std::collections::BTreeSet;

use crate::credentials::{PasswordHash, PasswordScheme};
use crate::domain::{ClientId, GrantType, RoleName, ScopeSet, Username};

/// A user as the rest of authd sees it (never with the password hash).
#[derive(Debug, Clone)]
pub struct User {
    /// Stable identifier (UUID), the `sub` of the user's tokens.
    pub id: String,
    /// Normalised username.
    pub username: String,
    /// Contact address.
    pub email: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
    /// A disabled user cannot log in and their tokens stop working.
    pub disabled: bool,
    /// Which algorithm made the stored password hash.
    pub password_scheme: PasswordScheme,
    /// Roles held, sorted by name.
    pub roles: Vec<String>,
    /// Bumped when the password changes or the user is disabled; older tokens stop counting.
    pub token_generation: i64,
    /// Unix time of creation.
    pub created_at: i64,
    /// Unix time of the last change.
    pub updated_at: i64,
}

/// A user together with the hash their password is checked against.
#[derive(Debug)]
pub struct UserLogin {
    /// The user.
    pub user: User,
    /// Their stored password hash.
    pub password_hash: PasswordHash,
}

/// A user to create.
#[derive(Debug)]
pub struct NewUser {
    /// Normalised username.
    pub username: Username,
    /// Contact address.
    pub email: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
    /// Create the user disabled.
    pub disabled: bool,
    /// Hash of the initial password.
    pub password_hash: PasswordHash,
    /// Roles to assign; each must exist.
    pub roles: Vec<RoleName>,
}

/// A role and the scopes it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Role name.
    pub name: String,
    /// Scopes granted to holders.
    pub scopes: ScopeSet,
}

/// A registered OAuth client.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client_id.
    pub client_id: String,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// Grants the client may use.
    pub grants: BTreeSet<GrantType>,
    /// Scopes the client may obtain.
    pub scopes: ScopeSet,
    /// Unix time of registration.
    pub created_at: i64,
}

impl Client {
    /// Whether the client has no secret.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

/// A client to register.
#[derive(Debug)]
pub struct NewClient {
    /// The client_id.
    pub client_id: ClientId,
    /// SHA-256 of the generated secret; `None` for a public client.
    pub secret_hash: Option<String>,
    /// Grants the client may use.
    pub grants: BTreeSet<GrantType>,
    /// Scopes the client may obtain.
    pub scopes: ScopeSet,
}

/// A signing key as stored.
#[derive(Clone)]
pub struct StoredKey {
    /// Key id (`kid`).
    pub kid: String,
    /// JWS algorithm name (`EdDSA`, `ES256`, `RS256`).
    pub algorithm: String,
    /// PKCS#8 DER of the private key.
    pub private_key: Vec<u8>,
    /// Public JWK as JSON text.
    pub public_jwk: String,
    /// Unix time of creation (publication).
    pub created_at_ms: i64,
    /// Unix time from which it signs.
    pub activates_at_ms: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"[redacted]")
            .field("created_at_ms", &self.created_at_ms)
            .field("activates_at_ms", &self.activates_at_ms)
            .finish()
    }
}

/// A refresh token as stored (by hash only).
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// The rotation family it belongs to.
    pub family_id: String,
    /// Client it was issued to.
    pub client_id: String,
    /// User it was issued for.
    pub user_id: String,
    /// Scopes granted, space-delimited.
    pub scope: String,
    /// Unix time of issuance.
    pub issued_at: i64,
    /// Unix time of expiry.
    pub expires_at: i64,
    /// Unix time it was exchanged, if it was.
    pub rotated_at: Option<i64>,
}

/// Result of exchanging a refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The old token was retired and the new one stored.
    Rotated,
    /// The old token had already been exchanged: this is reuse.
    AlreadyRotated,
}
