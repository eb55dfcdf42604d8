//! The account page's "Passkeys" block: what it lists and whether it offers to add one.

use crate::clock::rfc3339;
use crate::store::{Session, StoredPasskey};

use super::super::WebState;
use super::passkey_script_path;

/// One passkey, as the account page shows it.
pub struct PasskeyLine {
    /// Its credential id (the forms name it).
    pub credential_id: String,
    /// Its name.
    pub name: String,
    /// RFC 3339: when it was added.
    pub created_at: String,
    /// RFC 3339: when it last signed in.
    pub last_used_at: Option<String>,
}

/// The block's content.
pub struct PasskeySection {
    /// The person's passkeys.
    pub items: Vec<PasskeyLine>,
    /// The passkey script's URL, when passkeys are on.
    pub script: Option<&'static str>,
    /// Whether the session signed in recently enough to add a passkey.
    pub recent_sign_in: bool,
}

/// Whether `session` signed in within `webauthn.recent_sign_in_secs`.
pub fn signed_in_recently(state: &WebState, session: &Session) -> bool {
    let window = i64::try_from(state.settings.webauthn.recent_sign_in_secs).unwrap_or(i64::MAX);
    state.now().saturating_sub(session.auth_time) <= window
}

/// The block for `session`, whose user holds `passkeys`.
pub fn passkey_section(
    state: &WebState,
    session: &Session,
    passkeys: Vec<StoredPasskey>,
) -> PasskeySection {
    PasskeySection {
        items: passkeys
            .into_iter()
            .map(|passkey| PasskeyLine {
                credential_id: passkey.credential_id,
                name: passkey.name,
                created_at: rfc3339(passkey.created_at),
                last_used_at: passkey.last_used_at.map(rfc3339),
            })
            .collect(),
        script: state.passkeys.enabled().then(passkey_script_path),
        recent_sign_in: signed_in_recently(state, session),
    }
}
