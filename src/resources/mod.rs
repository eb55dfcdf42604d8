//! Resource indicators (RFC 8707): a token asked for one API carries that API as its `aud` and
//! only the scopes that API claims; a token asked for none carries `tokens.audience` and only
//! the scopes no API claims.

mod registry;
mod target;

pub use registry::{ResourceRegistry, Resources};
pub use target::{AccessGrant, requested_target};
