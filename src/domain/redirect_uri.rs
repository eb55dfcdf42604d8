//! Registered redirect URIs and how a requested one is matched against them.
//!
//! Matching is exact string comparison (RFC 9700 section 4.1.3), with the one exception of
//! RFC 8252 section 7.3: a registered loopback IP literal (`http://127.0.0.1/...`,
//! `http://[::1]/...`) accepts any port, since native apps listen on whatever port is free.

use std::fmt;

use url::{Host, Url};

use super::ParseError;

/// Longest redirect URI accepted, in bytes.
pub const MAX_REDIRECT_URI_BYTES: usize = 2048;

/// The checks every URI a client registers passes first: bounded, no spaces or control
/// characters, absolute, no fragment. `Err` says why not.
pub(super) fn absolute_without_fragment(raw: &str) -> Result<Url, &'static str> {
    if raw.len() > MAX_REDIRECT_URI_BYTES {
        return Err("too long");
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let url = Url::parse(raw).map_err(|_| "must be an absolute URI")?;
    if raw.contains('#') {
        return Err("must not contain a fragment");
    }
    Ok(url)
}

/// A redirect URI a client registered: absolute, no fragment, https unless loopback or a
/// private-use scheme of a native app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates a URI for registration.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let refuse = |why: &str| Err(ParseError::new(format!("redirect URI {raw:?}: {why}")));
        let url = match absolute_without_fragment(raw) {
            Ok(url) => url,
            Err(why) => return refuse(why),
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return refuse("must use https (http only for loopback addresses)"),
            // RFC 8252 section 7.1: a private-use scheme is a reversed domain name.
            scheme if scheme.contains('.') => {}
            _ => return refuse("must use https, loopback http, or a private-use scheme"),
        }
        if url.cannot_be_a_base() && !url.scheme().contains('.') {
            return refuse("must be an absolute URI");
        }
        if matches!(url.scheme(), "http" | "https")
            && (!url.username().is_empty() || url.password().is_some())
        {
            return refuse("must not contain user information");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI to redirect to when `requested` matches this registration: `requested` itself
    /// for an exact match; for a loopback IP literal, this URI with the requested port.
    pub fn accept(&self, requested: &str) -> Option<String> {
        if requested == self.0 {
            return Some(self.0.clone());
        }
        let registered = Url::parse(&self.0).ok()?;
        if registered.scheme() != "http" || !is_loopback_ip(&registered) {
            return None;
        }
        let asked = Url::parse(requested).ok()?;
        if requested.contains('#') || asked.scheme() != "http" {
            return None;
        }
        let mut without_port = asked.clone();
        without_port.set_port(None).ok()?;
        let mut registered_without_port = registered.clone();
        registered_without_port.set_port(None).ok()?;
        // The requested string must be what it parses to, so the comparison cannot be fooled by
        // spellings the parser normalises (dot segments, case, escapes).
        if asked.as_str() != requested || without_port != registered_without_port {
            return None;
        }
        let mut effective = registered;
        effective.set_port(asked.port()).ok()?;
        Some(effective.into())
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The registered URI `requested` matches, as the URI to redirect to.
pub fn match_redirect_uri(registered: &[RedirectUri], requested: &str) -> Option<String> {
    registered.iter().find_map(|uri| uri.accept(requested))
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

pub(super) fn is_loopback(url: &Url) -> bool {
    is_loopback_ip(url) || url.host_str() == Some("localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(raw: &str) -> RedirectUri {
        RedirectUri::parse(raw).unwrap()
    }

    #[test]
    fn registration_requires_https_except_loopback_and_private_use_schemes() {
        for good in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?tenant=1",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "/relative/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "https://user:pw@app.example.com/cb",
            "https://app.example.com/c b",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact_string_comparison() {
        let registered = [uri("https://app.example.com/cb")];
        assert!(match_redirect_uri(&registered, "https://app.example.com/cb").is_some());
        for other in [
            "https://app.example.com/cb/",
            "https://APP.example.com/cb",
            "https://app.example.com/cb?x=1",
            "https://app.example.com:443/cb",
            "https://app.example.com/./cb",
            "https://app.example.com/cb#x",
            "https://app.example.com.evil.com/cb",
        ] {
            assert_eq!(match_redirect_uri(&registered, other), None, "{other}");
        }
    }

    #[test]
    fn loopback_ip_literals_accept_any_port_and_nothing_else() {
        let registered = [uri("http://127.0.0.1/cb"), uri("http://[::1]/cb")];
        assert_eq!(
            match_redirect_uri(&registered, "http://127.0.0.1:51004/cb").as_deref(),
            Some("http://127.0.0.1:51004/cb")
        );
        assert_eq!(
            match_redirect_uri(&registered, "http://[::1]:8000/cb").as_deref(),
            Some("http://[::1]:8000/cb")
        );
        for other in [
            "http://127.0.0.1:51004/other",
            "https://127.0.0.1:51004/cb",
            "http://127.0.0.2:51004/cb",
            "http://127.0.0.1:51004/cb?x=1",
            "http://127.0.0.1:51004/x/../cb",
            "http://localhost:51004/cb",
        ] {
            assert_eq!(match_redirect_uri(&registered, other), None, "{other}");
        }
        // localhost is not an IP literal: exact match only.
        let named = [uri("http://localhost:3000/cb")];
        assert_eq!(match_redirect_uri(&named, "http://localhost:3001/cb"), None);
    }
}
