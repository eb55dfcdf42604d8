//! Every cookie the sign-in pages set, with its attributes in one place: `HttpOnly`, `Path=/`,
//! `SameSite=Lax` (the login transaction must survive the redirect from a client's site), and
//! `Secure` with the `__Host-` prefix whenever the issuer is https (RFC 6265bis 4.1.3.2).

use actix_web::HttpRequest;
use actix_web::http::header;

/// The two cookies of browser sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageCookie {
    /// The single sign-on session id.
    Session,
    /// The sealed login transaction.
    Login,
}

impl PageCookie {
    fn base_name(self) -> &'static str {
        match self {
            PageCookie::Session => "authd_session",
            PageCookie::Login => "authd_login",
        }
    }

    /// The cookie's name: `__Host-` prefixed when `secure`.
    pub fn name(self, secure: bool) -> String {
        if secure {
            format!("__Host-{}", self.base_name())
        } else {
            self.base_name().to_owned()
        }
    }

    /// The `Set-Cookie` value storing `value` for `max_age_secs`.
    pub fn set(self, secure: bool, value: &str, max_age_secs: u64) -> String {
        let secure_attribute = if secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Max-Age={max_age_secs}; Path=/; HttpOnly; SameSite=Lax{secure_attribute}",
            self.name(secure)
        )
    }

    /// The `Set-Cookie` value deleting the cookie.
    pub fn clear(self, secure: bool) -> String {
        self.set(secure, "", 0)
    }

    /// The cookie's value in the request, if sent (the first one, if sent twice).
    pub fn read(self, request: &HttpRequest, secure: bool) -> Option<String> {
        let name = self.name(secure);
        request
            .headers()
            .get_all(header::COOKIE)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(found, _)| *found == name)
            .map(|(_, value)| value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_issuers_get_host_prefixed_secure_cookies() {
        let cookie = PageCookie::Session.set(true, "v", 60);
        assert_eq!(
            cookie,
            "__Host-authd_session=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        let plain = PageCookie::Login.set(false, "v", 60);
        assert!(plain.starts_with("authd_login=v;") && !plain.contains("Secure"));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let request = actix_web::test::TestRequest::default()
            .insert_header((header::COOKIE, "xauthd_login=bad; authd_login=good"))
            .to_http_request();
        assert_eq!(
            PageCookie::Login.read(&request, false).as_deref(),
            Some("good")
        );
        assert_eq!(PageCookie::Session.read(&request, false), None);
    }
}
