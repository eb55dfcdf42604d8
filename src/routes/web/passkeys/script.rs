//! The one script of the pages (`static/passkey.js`): the WebAuthn calls, which only JavaScript
//! can make. Served by authd at a URL naming its content hash, like the stylesheet.

use std::sync::OnceLock;

use aws_lc_rs::digest::{SHA256, digest};

/// The script, compiled in.
pub const PASSKEY_SCRIPT: &str = include_str!("../../../../static/passkey.js");

/// `/static/passkey-<first 16 hex digits of its SHA-256>.js`.
pub fn passkey_script_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let hash = digest(&SHA256, PASSKEY_SCRIPT.as_bytes());
        let hex = crate::hex::lower(&hash.as_ref()[..8]);
        format!("/static/passkey-{hex}.js")
    })
}
