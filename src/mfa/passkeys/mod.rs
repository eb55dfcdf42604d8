//! Passkeys (WebAuthn Level 2/3, with webauthn-rs): registration from the account page and the
//! usernameless (discoverable credential) sign-in. A passkey signs in on its own, with user
//! verification required: RFC 8176 `pop mfa`. No HTTP types here; `routes::web::passkeys` adapts
//! these to JSON endpoints.

mod authentication;
mod ceremony;
mod name;
mod registration;
mod relying_party;

use webauthn_rs::prelude::Webauthn;

use crate::config::Settings;
use crate::store::StoreError;

pub use authentication::SignedInWithPasskey;
pub use name::PasskeyName;
pub use registration::Registered;

/// The request that finishes a ceremony.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a, C> {
    /// The sealed state `begin_*` handed out, as the page echoed it.
    pub sealed: &'a str,
    /// What the state must be bound to (see `begin_registration`, `begin_sign_in`).
    pub binding: &'a str,
    /// The authenticator's answer.
    pub credential: &'a C,
}

/// Passkeys one user may hold: every one is offered to their authenticator at each registration.
pub const MAX_PER_USER: i64 = 20;

/// The relying party and its ceremonies' settings; `Debug` shows only whether passkeys are on.
pub struct Passkeys {
    relying_party: Option<Webauthn>,
    ceremony_ttl_secs: u64,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passkeys(enabled: {})", self.enabled())
    }
}

/// Why a ceremony did not succeed. Callers answer most of these alike, so that a stranger learns
/// nothing about other people's passkeys.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// No relying party: the issuer has no domain and `webauthn.rp_id` is unset.
    #[error("passkeys are not enabled on this server")]
    Disabled,
    /// The sealed state is altered, expired, or from another browser or session.
    #[error("this passkey ceremony expired or was not started here; start again")]
    Stale,
    /// The authenticator's answer could not be read.
    #[error("the authenticator's answer could not be read")]
    Malformed,
    /// Verification failed, the credential is unknown, its user disabled or not the one signing
    /// in: all alike.
    #[error("this passkey was not accepted")]
    Refused,
    /// The ceremony was finished before (a replay).
    #[error("this passkey ceremony was used already; start again")]
    Replayed,
    /// The signature counter did not grow: the passkey may have been cloned.
    #[error("this passkey was not accepted")]
    Cloned {
        /// Whose passkey it is, for the audit trail.
        user_id: String,
        /// Which passkey.
        credential_id: String,
    },
    /// The credential is registered already (to this user or another).
    #[error("this passkey is registered already")]
    AlreadyRegistered,
    /// The user holds `MAX_PER_USER` passkeys.
    #[error("you have {MAX_PER_USER} passkeys; delete one first")]
    TooMany,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug: the library refused its own input, or a stored passkey is unreadable.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl Passkeys {
    /// The relying party of `settings` (after `tokens.issuer` is resolved).
    pub fn new(settings: &Settings, issuer: &str) -> anyhow::Result<Self> {
        let relying_party =
            relying_party::relying_party(&settings.webauthn, issuer, &settings.pages.product_name)?;
        if relying_party.is_none() {
            log::warn!(
                "passkeys are off: the issuer {issuer} has no domain name; set tokens.issuer or \
                 webauthn.rp_id and webauthn.origins to offer them"
            );
        }
        Ok(Self {
            relying_party,
            ceremony_ttl_secs: settings.webauthn.ceremony_ttl_secs,
        })
    }

    /// Whether passkeys can be registered and used here.
    pub fn enabled(&self) -> bool {
        self.relying_party.is_some()
    }

    fn relying_party(&self) -> Result<&Webauthn, PasskeyError> {
        self.relying_party.as_ref().ok_or(PasskeyError::Disabled)
    }
}
