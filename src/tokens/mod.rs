//! Access tokens (signed JWTs, RFC 9068), opaque refresh tokens, and the keys that sign them.

mod claims;
mod introspection_jwt;
mod key_encryption;
mod key_material;
mod keyring;
mod refresh;
mod refresh_retry;
mod service;

pub use claims::{
    AccessClaims, Actor, Audience, Authentication, Confirmation, MayAct, TOKEN_TYPE_HEADER,
};
pub use introspection_jwt::{
    INTROSPECTION_JWT_MEDIA_TYPE, accepts_introspection_jwt, sign_introspection_response,
};
pub use key_encryption::KeyEncryptionKey;
pub use key_material::{SigningKey, generate_key};
pub use keyring::{KeyManager, KeyState, KeySummary};
pub use refresh::{
    MAX_REFRESH_TOKEN_BYTES, MintedRefreshToken, family_secret_of, mint as mint_refresh_token,
    mint_new_family,
};
pub use refresh_retry::{open_successor, seal_successor};
pub use service::{
    Grant, IssuedAccessToken, TokenError, TokenService, TokenSubject, VerifiedToken, looks_like_jwt,
};
