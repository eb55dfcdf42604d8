//! The device authorization grant (RFC 8628): a device or command-line tool without a usable
//! browser gets a device code (its secret, for polling `/token`) and a short user code that a
//! person enters at `/device` in a browser where they are signed in.
//!
//! `authorization` issues the pair, `approval` is what `/device` does with a user code,
//! `guesses` throttles wrong user codes per address, and `routes::token::device_code` redeems.

pub mod approval;
pub mod authorization;
pub mod guesses;
mod user_code;

pub use approval::{DeviceApproval, DeviceRequest};
pub use authorization::{DeviceAuthorization, start_authorization};
pub use guesses::UserCodeGuesses;
pub use user_code::UserCode;
