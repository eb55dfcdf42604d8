//! Device cookies (OWASP, "Slow down online guessing attacks with device cookies"): a browser in
//! which a user signed in successfully is recognised on that user's next sign-in, and keeps
//! getting its attempts checked when a distributed attack has spent the account's guess budget.
//!
//! The cookie holds its expiry and an HMAC-SHA256 (aws-lc-rs) over the user and the expiry, so
//! nothing is stored per device and the cookie says nothing about the user.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How long a device stays recognised after a successful sign-in.
pub const DEVICE_COOKIE_SECS: i64 = 30 * 86_400;

/// Issues and checks device cookies.
pub struct DeviceCookies {
    key: Option<hmac::Key>,
    secure: bool,
}

impl DeviceCookies {
    /// With `key` (none: device cookies are off), `Secure` and `__Host-` when the issuer is https.
    pub fn new(key: Option<hmac::Key>, secure: bool) -> Self {
        Self { key, secure }
    }

    fn name(&self) -> &'static str {
        // The __Host- prefix pins the cookie to this host and path (RFC 6265bis 4.1.3.2).
        if self.secure {
            "__Host-authd_device"
        } else {
            "authd_device"
        }
    }

    /// The `Set-Cookie` value that marks this browser as a device of `user_key`.
    pub fn issue(&self, user_key: &str, now: i64) -> Option<String> {
        let key = self.key.as_ref()?;
        let expires = now + DEVICE_COOKIE_SECS;
        let tag = hmac::sign(key, &message(user_key, expires));
        let secure = if self.secure { "; Secure" } else { "" };
        Some(format!(
            "{}={expires}.{}; Max-Age={DEVICE_COOKIE_SECS}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.name(),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    /// Whether the request's `Cookie` header carries a live device cookie of `user_key`.
    pub fn vouches_for(&self, cookie_header: Option<&str>, user_key: &str, now: i64) -> bool {
        let (Some(key), Some(header)) = (&self.key, cookie_header) else {
            return false;
        };
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == self.name())
            .any(|(_, value)| {
                let Some((expires, tag)) = value.split_once('.') else {
                    return false;
                };
                let (Ok(expires), Ok(tag)) = (expires.parse::<i64>(), URL_SAFE_NO_PAD.decode(tag))
                else {
                    return false;
                };
                expires > now && hmac::verify(key, &message(user_key, expires), &tag).is_ok()
            })
    }
}

fn message(user_key: &str, expires: i64) -> Vec<u8> {
    format!("{user_key}\n{expires}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies() -> DeviceCookies {
        DeviceCookies::new(Some(hmac::Key::new(hmac::HMAC_SHA256, &[7; 32])), false)
    }

    fn header(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn a_cookie_vouches_for_its_user_until_it_expires() {
        let cookies = cookies();
        let cookie = header(&cookies.issue("user:alice", 1000).unwrap());
        let sent = format!("other=1; {cookie}");
        assert!(cookies.vouches_for(Some(&sent), "user:alice", 1001));
        assert!(!cookies.vouches_for(Some(&sent), "user:bob", 1001));
        assert!(!cookies.vouches_for(Some(&sent), "user:alice", 1000 + DEVICE_COOKIE_SECS));
    }

    #[test]
    fn forged_or_other_keys_cookies_do_not_vouch() {
        let cookies = cookies();
        let other = DeviceCookies::new(Some(hmac::Key::new(hmac::HMAC_SHA256, &[8; 32])), false);
        let foreign = header(&other.issue("user:alice", 1000).unwrap());
        assert!(!cookies.vouches_for(Some(&foreign), "user:alice", 1001));
        let far = format!("authd_device={}.AAAA", 1000 + 10 * DEVICE_COOKIE_SECS);
        assert!(!cookies.vouches_for(Some(&far), "user:alice", 1001));
        assert!(!cookies.vouches_for(Some("authd_device=garbage"), "user:alice", 1001));
        let off = DeviceCookies::new(None, false);
        assert!(off.issue("user:alice", 1000).is_none());
    }

    #[test]
    fn https_cookies_are_secure_host_cookies() {
        let cookies = DeviceCookies::new(Some(hmac::Key::new(hmac::HMAC_SHA256, &[7; 32])), true);
        let set = cookies.issue("user:alice", 1000).unwrap();
        assert!(set.starts_with("__Host-authd_device="));
        assert!(set.contains("; Secure") && set.contains("HttpOnly") && set.contains("Path=/"));
    }
}
