//! Second factors and passkeys (issue 13): how strong a sign-in was (`amr`, `acr`), TOTP and
//! recovery codes, WebAuthn passkeys. No HTTP types here; `routes::web` and `routes::token` use
//! these.

pub mod one_time_code;
pub mod passkeys;
pub mod recovery_codes;
pub mod strength;
pub mod totp;

pub use one_time_code::{OneTimeCode, OneTimeCodeCheck, OneTimeCodeError};
pub use strength::{ACR_MFA, ACR_PWD, AcrRequest, acr_of, is_multi_factor};
