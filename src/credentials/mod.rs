//! Checking who is asking: password hashes, generated secrets, client authentication.

mod client_auth;
mod hash_pool;
mod lockout;
mod password;
mod secret;

pub use client_auth::{ClientAuthError, ClientCredentials, PresentedClient, authenticate_client};
pub use lockout::{LockoutPolicy, LoginKeys};
pub use password::{PasswordHash, PasswordHasher, PasswordScheme, VerifyOutcome};
pub use secret::{generate_secret, hash_secret, secret_hash_matches};
