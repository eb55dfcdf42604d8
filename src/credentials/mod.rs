//! Checking who is asking: password hashes, generated secrets, client authentication.

mod address_slots;
mod client_auth;
mod hash_pool;
mod lockout;
mod password;
mod secret;

pub use client_auth::{ClientAuthError, ClientCredentials, PresentedClient, authenticate_client};
pub use hash_pool::{HashError, StillWaiting};
pub use lockout::{LockoutPolicy, LoginAttempt, LoginKeys, Reservation, address_bucket};
pub use password::{HashRequester, PasswordHash, PasswordHasher, PasswordScheme, VerifyOutcome};
pub use secret::{generate_secret, hash_secret, secret_hash_matches};
