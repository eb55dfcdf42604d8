//! `id_token_hint` (Core section 3.1.2.1, RP-Initiated Logout section 2): an id_token authd
//! issued, presented back to name a user and session. Its signature and issuer are checked; its
//! expiry is not (RP-Initiated Logout section 4: relying parties keep it long after it expires).

use jsonwebtoken::Validation;
use serde::Deserialize;

use crate::tokens::{TokenService, looks_like_jwt};

/// Longest hint parsed.
const MAX_HINT_BYTES: usize = 8 * 1024;

/// Who an id_token_hint names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HintedSignIn {
    /// The user.
    pub sub: String,
    /// The client it was issued to.
    pub aud: String,
    /// The session it was issued under.
    #[serde(default)]
    pub sid: Option<String>,
}

/// The sign-in an id_token authd issued names, or `None` when `hint` is not one: bad signature,
/// unknown or withdrawn key, another issuer, or an access or logout token.
pub fn verify_id_token_hint(tokens: &TokenService, hint: &str) -> Option<HintedSignIn> {
    if hint.len() > MAX_HINT_BYTES || !looks_like_jwt(hint) {
        return None;
    }
    let header = jsonwebtoken::decode_header(hint).ok()?;
    // Access tokens (at+jwt) and logout tokens (logout+jwt) are signed by the same keys.
    if header
        .typ
        .as_deref()
        .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
    {
        return None;
    }
    let key = tokens.keys().find(header.kid.as_deref()?)?;
    // RFC 8725 section 3.1: the key decides the algorithm.
    let mut validation = Validation::new(key.algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.set_issuer(&[tokens.issuer()]);
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    jsonwebtoken::decode::<HintedSignIn>(hint, &key.decoding, &validation)
        .ok()
        .map(|data| data.claims)
}
