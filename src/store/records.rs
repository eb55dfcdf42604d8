//! What the store reads and writes, as plain records.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::credentials::{PasswordHash, PasswordScheme};
use crate::domain::{
    BackchannelLogoutUri, ClientId, GrantType, IdTokenAlg, IntrospectionAlg, RedirectUri,
    ResourceUri, RoleName, ScopeSet, Username,
};

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
    /// Whether holders must sign in with a second factor.
    pub require_mfa: bool,
}

/// A registered OAuth client.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client_id.
    pub client_id: String,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// Grants the client may use (shared: every token request's `PresentedClient` holds them).
    pub grants: Arc<BTreeSet<GrantType>>,
    /// Scopes the client may obtain (shared, as `grants`).
    pub scopes: Arc<ScopeSet>,
    /// Unix time of registration.
    pub created_at: i64,
    /// Random per registration: tokens of a deleted client stay dead when its client_id is
    /// registered again (empty for clients registered before migration 0005).
    pub registration: String,
    /// Browser-facing settings (empty for service clients).
    pub browser: BrowserSettings,
    /// The resources (RFC 8707) it may ask tokens for.
    pub resources: Vec<ResourceUri>,
}

/// What a client needs for the authorization code flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserSettings {
    /// Shown on the consent page; the client_id when empty.
    pub client_name: String,
    /// Where codes may be sent.
    pub redirect_uris: Vec<RedirectUri>,
    /// Origins whose JavaScript may call `/token`, `/revoke`, the metadata and the JWKS.
    pub allowed_origins: Vec<String>,
    /// A first-party client: no consent page.
    pub skip_consent: bool,
    /// A confidential client that may omit PKCE when it sends `openid` and a `nonce`.
    pub pkce_optional: bool,
    /// Where RP-Initiated Logout may send the browser back.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Where logout tokens are POSTed when a session it signed into ends.
    pub backchannel_logout_uri: Option<BackchannelLogoutUri>,
    /// Whether its logout tokens must carry `sid` (they always do).
    pub backchannel_logout_session_required: bool,
    /// JWS algorithm of its id_tokens and logout tokens.
    pub id_token_signed_response_alg: IdTokenAlg,
    /// `/authorize` takes its requests only through `/par` (RFC 9126 section 5).
    pub require_pushed_authorization_requests: bool,
    /// JWS algorithm of its JWT introspection responses (RFC 9701 section 6).
    pub introspection_signed_response_alg: IntrospectionAlg,
    /// Every token request must carry a DPoP proof (RFC 9449 section 5.2 client metadata
    /// `dpop_bound_access_tokens`); kept with the browser settings, which PATCH changes.
    pub dpop_bound_access_tokens: bool,
    /// It may exchange a user's token without an actor token, so the result carries no `act`
    /// (RFC 8693 impersonation).
    pub allow_impersonation: bool,
}

impl Client {
    /// Whether the client has no secret.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// The algorithm to sign this client's id_tokens and logout tokens with (RS256 unless it
    /// registered another).
    pub fn id_token_signing_alg(&self) -> jsonwebtoken::Algorithm {
        self.browser.id_token_signed_response_alg.algorithm()
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
    /// Browser-facing settings.
    pub browser: BrowserSettings,
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

/// A refresh-token family: one grant and its rotations, stored as one row (by hashes only).
#[derive(Debug, Clone)]
pub struct RefreshFamily {
    /// Internal id, for the audit trail; never part of a token.
    pub id: String,
    /// Rotations so far; the current token carries this number.
    pub generation: i64,
    /// SHA-256 (hex) of the token that may be exchanged now.
    pub current_hash: String,
    /// Client it was issued to.
    pub client_id: String,
    /// That client's registration at issuance (see `Client::registration`).
    pub client_registration: String,
    /// User it was issued for.
    pub user_id: String,
    /// The user's token generation at issuance.
    pub user_generation: i64,
    /// Scopes granted, space-delimited.
    pub scope: String,
    /// Unix time the current token was issued.
    pub issued_at: i64,
    /// Unix time the current token expires.
    pub expires_at: i64,
    /// The browser session a code-flow family belongs to.
    pub session_handle: Option<String>,
    /// Outlives its session (`offline_access`, OpenID Connect Core section 11).
    pub offline: bool,
    /// When the sign-in behind a code-flow family happened (for its id_tokens).
    pub auth_time: Option<i64>,
    /// How, space-delimited RFC 8176 values.
    pub amr: Option<String>,
    /// The resources (RFC 8707) it was granted for, space-delimited; its refreshes may ask for
    /// these and nothing else. Empty: tokens for `tokens.audience`.
    pub resources: String,
    /// The DPoP key (thumbprint) a public client's family is bound to (RFC 9449 section 5).
    pub dpop_jkt: Option<String>,
}

/// The next token of a family, replacing its current one.
#[derive(Debug)]
pub struct RefreshRotation<'a> {
    /// The family.
    pub family_id: &'a str,
    /// The generation being exchanged.
    pub generation: i64,
    /// Hash of the token being exchanged.
    pub current_hash: &'a str,
    /// Hash of its successor.
    pub next_hash: &'a str,
    /// Hash of the family secret (set on the first rotation of a family from before 0005).
    pub family_hash: &'a str,
    /// Unix time of the exchange.
    pub now: i64,
    /// Unix time the successor expires.
    pub expires_at: i64,
    /// The successor sealed for a retry (`tokens::seal_successor`), and until when (the flows'
    /// clock) a retry may have it; `None` when retries are off.
    pub retry: Option<(String, i64)>,
}

/// Result of exchanging a refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The successor replaced the exchanged token.
    Rotated,
    /// The token was no longer the family's current one (exchanged concurrently, or the family
    /// or its user's sessions were revoked).
    NotCurrent,
}
