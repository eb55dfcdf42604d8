//! TOTP (RFC 6238) with the defaults every authenticator app accepts: HMAC-SHA-1, 6 digits,
//! 30-second steps, one step of drift either way. The HMAC is aws-lc-rs's; only the truncation
//! arithmetic (RFC 4226 section 5.3) is written here.

mod base32;
mod code;
mod enrolment;
mod qr;
mod sealing;
mod secret;
mod uri;

pub use base32::encode as base32_encode;
pub use code::{DIGITS, DRIFT_STEPS, PERIOD_SECS, code_at_step, matching_step, step_at};
pub use enrolment::{ENROLMENT_TTL_SECS, PendingEnrolment};
pub use qr::qr_svg;
pub use sealing::TotpSealer;
pub use secret::TotpSecret;
pub use uri::otpauth_uri;
