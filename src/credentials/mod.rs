//! Checking who is asking: password hashes, generated secrets, client authentication.

mod address_slots;
mod client_auth;
mod device_cookie;
mod hash_pool;
mod lockout;
mod password;
mod secret;

pub use client_auth::{
    ClientAuthError, ClientCredentials, PresentedClient, authenticate_client,
    authenticate_named_client,
};
pub use device_cookie::{DEVICE_COOKIE_SECS, DeviceCookies};
pub use hash_pool::{HashError, StillWaiting};
pub use lockout::{
    LockoutPolicy, LoginAttempt, LoginKeys, RefusalReason, Reservation, address_counter,
};
pub use password::{HashRequester, PasswordHash, PasswordHasher, PasswordScheme, VerifyOutcome};
pub use secret::{generate_secret, hash_secret, secret_hash_matches};
