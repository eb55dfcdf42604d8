//! The request_uri `/par` answers with: the checked request itself, sealed with the page keys
//! (AES-256-GCM), so that pushing stores nothing and the parameters stay hidden from the browser
//! that carries them to `/authorize`.

use serde::{Deserialize, Serialize};

use crate::credentials::generate_secret;
use crate::signin::{AuthorizationRequest, MAX_COOKIE_VALUE_BYTES, PageKeys};

/// RFC 9126 section 2.2: the URN prefix of request URIs the server issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Seconds a request_uri may be used after the push (RFC 9126 section 2.2 suggests 5 to 600).
pub const PUSHED_REQUEST_TTL_SECS: i64 = 60;

/// Distinguishes these ciphertexts from anything else sealed with the page keys.
const PURPOSE: &str = "pushed authorization request v1";

/// A pushed request as it travels inside its request_uri.
#[derive(Debug, Serialize, Deserialize)]
pub struct PushedRequest {
    /// Random: the key of its used-marker.
    pub id: String,
    /// Unix time (flow clock) after which it is refused.
    pub expires_at: i64,
    /// The request, checked at push time (RFC 9126 section 2.1).
    pub request: AuthorizationRequest,
}

impl PushedRequest {
    /// A pushed `request` valid for `PUSHED_REQUEST_TTL_SECS` from `now`.
    pub fn new(request: AuthorizationRequest, now: i64) -> Self {
        Self {
            id: generate_secret(),
            expires_at: now + PUSHED_REQUEST_TTL_SECS,
            request,
        }
    }

    /// The request_uri; `None` when the sealed request would not fit in the login transaction
    /// cookie that carries it on through the sign-in.
    pub fn request_uri(&self, keys: &PageKeys) -> Option<String> {
        let plaintext = serde_json::to_vec(self).ok()?;
        let sealed = keys.seal(PURPOSE, &plaintext)?;
        (sealed.len() <= MAX_COOKIE_VALUE_BYTES).then(|| format!("{REQUEST_URI_PREFIX}{sealed}"))
    }

    /// The pushed request in `request_uri`, unless authd did not seal it (or it was altered).
    /// Expiry and single use are the caller's to check.
    pub fn open(keys: &PageKeys, request_uri: &str) -> Option<Self> {
        let sealed = request_uri.strip_prefix(REQUEST_URI_PREFIX)?;
        let plaintext = keys.open(PURPOSE, sealed)?;
        serde_json::from_slice(&plaintext).ok()
    }
}
