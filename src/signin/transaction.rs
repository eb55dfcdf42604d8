//! The login transaction: what the browser is in the middle of (an authorization request, or
//! signing in to the account page), sealed into a cookie so that a page view stores nothing on the
//! server and a stranger cannot make authd hold state. It expires after `sessions.login_ttl_secs`
//! and carries the CSRF token its forms must echo.

use serde::{Deserialize, Serialize};

use super::PageKeys;
use super::authorization_request::AuthorizationRequest;
use crate::credentials::generate_secret;

/// Distinguishes this cookie's ciphertexts from anything else sealed with the page keys.
const PURPOSE: &str = "login transaction v1";

/// Where the browser goes once the person is signed in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Destination {
    /// Back to a client, through consent if needed.
    Client(Box<AuthorizationRequest>),
    /// The account page.
    Account,
    /// `/device`, to enter a device's user code (RFC 8628 section 3.3); with the code from
    /// `verification_uri_complete`, normalised, when there was one.
    Device(Option<String>),
}

/// How far the transaction has come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// The login form.
    Login,
    /// The consent page, for the session with this handle.
    Consent {
        /// The session that signed in (consent is given by it, and only it).
        session_handle: String,
    },
    /// The first factor is done (a password just now, or a live session that needs a stronger
    /// sign-in): a second factor of this user finishes the sign-in.
    SecondFactor {
        /// Whose factor is asked for.
        user_id: String,
        /// The user's token generation at the first factor: a password change since voids it.
        user_generation: i64,
    },
    /// The signed-in person's roles demand a second factor and they have none yet: enrolment
    /// first, for the session with this handle.
    Enrol {
        /// The session that must enrol.
        session_handle: String,
    },
}

/// A login transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginTransaction {
    /// Where it leads.
    pub destination: Destination,
    /// How far it has come.
    pub stage: Stage,
    /// The token its forms carry; a form of another transaction carries another one.
    pub csrf: String,
    /// Unix time after which it is refused.
    pub expires_at: i64,
}

impl LoginTransaction {
    /// A new transaction at the login form.
    pub fn start(destination: Destination, now: i64, ttl_secs: u64) -> Self {
        Self {
            destination,
            stage: Stage::Login,
            csrf: generate_secret(),
            expires_at: now + ttl_secs as i64,
        }
    }

    /// The same transaction, moved on to consent for `session_handle` (a new CSRF token: the
    /// login form's token does not approve anything).
    pub fn to_consent(mut self, session_handle: &str) -> Self {
        self.stage = Stage::Consent {
            session_handle: session_handle.to_owned(),
        };
        self.csrf = generate_secret();
        self
    }

    /// The same transaction, waiting for a second factor of `user_id` (a new CSRF token).
    pub fn to_second_factor(mut self, user_id: &str, user_generation: i64) -> Self {
        self.stage = Stage::SecondFactor {
            user_id: user_id.to_owned(),
            user_generation,
        };
        self.csrf = generate_secret();
        self
    }

    /// The same transaction, waiting for the session `session_handle` to enrol a second factor.
    pub fn to_enrol(mut self, session_handle: &str) -> Self {
        self.stage = Stage::Enrol {
            session_handle: session_handle.to_owned(),
        };
        self.csrf = generate_secret();
        self
    }

    /// The authorization request, if the transaction leads to a client.
    pub fn request(&self) -> Option<&AuthorizationRequest> {
        match &self.destination {
            Destination::Client(request) => Some(request),
            Destination::Account | Destination::Device(_) => None,
        }
    }

    /// The cookie value.
    pub fn seal(&self, keys: &PageKeys) -> Option<String> {
        let plaintext = serde_json::to_vec(self).ok()?;
        keys.seal(PURPOSE, &plaintext)
    }

    /// The transaction in a cookie value, unless it was altered or has expired.
    pub fn open(keys: &PageKeys, sealed: &str, now: i64) -> Option<Self> {
        let plaintext = keys.open(PURPOSE, sealed)?;
        let transaction: Self = serde_json::from_slice(&plaintext).ok()?;
        (transaction.expires_at > now).then_some(transaction)
    }

    /// Whether `presented` is this transaction's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.csrf.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}
