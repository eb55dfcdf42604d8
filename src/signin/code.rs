//! Authorization codes as sealed values: 256 random bits and what the code grants, under
//! AES-256-GCM with the page keys (every instance sharing the key-encryption key opens them). `/authorize` writes nothing; the code carries
//! what it grants, and its redemption at `/token` is the one write, which also makes it
//! single-use (`store::authorization_codes`). Nobody can read or alter what a code says.

use super::page_keys::PageKeys;
use crate::credentials::hash_secret;
use crate::store::AuthorizationCode;

/// Binds sealed codes to their use: a login transaction cookie is not a code.
const PURPOSE: &str = "authorization code v1";

/// Longest code opened (ours are a few hundred characters; with resources asked for, up to
/// about 2 KiB more).
pub const MAX_CODE_BYTES: usize = 4096;

/// The code to hand out for `content`; `None` if it could not be sealed.
pub fn seal_code(keys: &PageKeys, content: &AuthorizationCode) -> Option<String> {
    keys.seal(PURPOSE, &serde_json::to_vec(content).ok()?)
}

/// What a presented code grants, with `code_hash` set to the code's hash (its key when
/// redeemed); `None` for anything authd did not seal as a code.
pub fn open_code(keys: &PageKeys, code: &str) -> Option<AuthorizationCode> {
    if code.len() > MAX_CODE_BYTES {
        return None;
    }
    let plaintext = keys.open(PURPOSE, code)?;
    let mut content: AuthorizationCode = serde_json::from_slice(&plaintext).ok()?;
    content.code_hash = hash_secret(code);
    Some(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PageKeys {
        let prk = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"test").extract(b"k");
        PageKeys::derive(&prk).unwrap()
    }

    fn content() -> AuthorizationCode {
        AuthorizationCode {
            code_hash: String::new(),
            client_id: "app".into(),
            client_registration: "r1".into(),
            redirect_uri: Some("https://app.example/cb".into()),
            delivered_to: "https://app.example/cb".into(),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            scope: "openid items:read".into(),
            user_id: "u1".into(),
            user_generation: 3,
            session_handle: "s1".into(),
            auth_time: 10,
            amr: "pwd".into(),
            nonce: Some("n".into()),
            expires_at: 70,
            redeemed_at: None,
            tell_on_logout: true,
            needs_consent: true,
            random: "r".repeat(43),
            resources: "https://api.example".into(),
            dpop_jkt: None,
        }
    }

    #[test]
    fn a_sealed_code_opens_to_what_it_grants_keyed_by_its_hash() {
        let keys = keys();
        let code = seal_code(&keys, &content()).unwrap();
        assert!(code.len() < 640, "{} characters", code.len());
        let opened = open_code(&keys, &code).unwrap();
        assert_eq!(opened.code_hash, hash_secret(&code));
        assert_eq!(opened.client_id, "app");
        assert_eq!(opened.nonce.as_deref(), Some("n"));
        assert!(opened.tell_on_logout);
        // Two codes for the same grant differ (random nonces): each is redeemed on its own.
        assert_ne!(seal_code(&keys, &content()).unwrap(), code);
    }

    #[test]
    fn a_code_with_the_most_resources_a_request_may_name_still_opens() {
        let keys = keys();
        let mut long = content();
        long.resources = format!("https://{}", "r".repeat(1016));
        long.nonce = Some("n".repeat(512));
        let code = seal_code(&keys, &long).unwrap();
        assert!(code.len() <= MAX_CODE_BYTES, "{} characters", code.len());
        assert_eq!(open_code(&keys, &code).unwrap().resources, long.resources);
    }

    #[test]
    fn altered_foreign_or_other_purpose_values_do_not_open() {
        let keys = keys();
        let code = seal_code(&keys, &content()).unwrap();
        let mut altered = code.clone().into_bytes();
        let last = altered.len() - 5;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(open_code(&keys, std::str::from_utf8(&altered).unwrap()).is_none());
        let other = keys.seal("login transactions", b"{}").unwrap();
        assert!(open_code(&keys, &other).is_none());
        assert!(open_code(&keys, "not-a-code").is_none());
    }
}
