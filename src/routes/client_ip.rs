//! The caller's address, for lockout counters and the audit trail.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The peer's IP, or, behind a trusted proxy, the address that proxy appended to
/// `X-Forwarded-For`. Addresses come out in one canonical form (IPv4-mapped IPv6 as IPv4).
pub fn client_ip(request: &HttpRequest, trust_forwarded_for: bool) -> Option<String> {
    client_address(request, trust_forwarded_for).map(ClientAddress::into_string)
}

/// `client_ip` before it is written out: the access log writes it into its line directly.
pub fn client_address(request: &HttpRequest, trust_forwarded_for: bool) -> Option<ClientAddress> {
    let peer = request
        .peer_addr()
        .map(|peer| ClientAddress::Ip(peer.ip().to_canonical()));
    if !trust_forwarded_for {
        return peer;
    }
    // Several header lines form one list (RFC 9110 section 5.3), and a proxy such as HAProxy
    // appends a line of its own. The last entry of the last line is the one our proxy wrote;
    // every earlier entry, on any line, is whatever the client sent, and trusting it would let
    // an attacker pick the address its failures count against.
    let forwarded = request
        .headers()
        .get_all(X_FORWARDED_FOR)
        .last()
        .and_then(|line| line.to_str().ok())
        .and_then(|line| line.rsplit(',').next())
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    match forwarded {
        Some(entry) => Some(parse_entry(entry)),
        None => peer,
    }
}

/// A caller's address: an IP in canonical form, or a forwarded entry that is not one.
pub enum ClientAddress {
    /// An address (IPv4-mapped IPv6 already as IPv4).
    Ip(IpAddr),
    /// A forwarded entry kept as written (at most 64 characters).
    Other(String),
}

impl ClientAddress {
    /// The address as text, allocated once at its final size.
    pub fn into_string(self) -> String {
        match self {
            Self::Ip(_) => {
                let mut text = Vec::with_capacity(MAX_IP_TEXT);
                self.write_to(&mut text);
                // Written from ASCII digits, dots, colons and hex letters only.
                String::from_utf8(text).unwrap_or_default()
            }
            Self::Other(text) => text,
        }
    }

    /// Appends the address as text to `out`: IPv4 without `core::fmt`, whose machinery was
    /// most of what writing an address cost (twice per token request: the access line and the
    /// grant).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ip(IpAddr::V4(ip)) => {
                let mut digits = itoa::Buffer::new();
                for (n, octet) in ip.octets().into_iter().enumerate() {
                    if n > 0 {
                        out.push(b'.');
                    }
                    out.extend_from_slice(digits.format(octet).as_bytes());
                }
            }
            Self::Ip(ip @ IpAddr::V6(_)) => {
                use std::io::Write;
                // Writing into a Vec cannot fail.
                let _ = write!(out, "{ip}");
            }
            Self::Other(text) => out.extend_from_slice(text.as_bytes()),
        }
    }
}

/// The longest IP text, `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
const MAX_IP_TEXT: usize = 45;

/// An `X-Forwarded-For` entry without a port or brackets; anything else is kept as written (at
/// most 64 characters), so that distinct values are still counted apart.
fn parse_entry(entry: &str) -> ClientAddress {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return ClientAddress::Ip(ip.to_canonical());
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return ClientAddress::Ip(socket.ip().to_canonical());
    }
    let unbracketed = entry.trim_matches(['[', ']']);
    match unbracketed.parse::<IpAddr>() {
        Ok(ip) => ClientAddress::Ip(ip.to_canonical()),
        Err(_) => ClientAddress::Other(unbracketed.chars().take(64).collect()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request() -> HttpRequest {
        TestRequest::default()
            .peer_addr("192.0.2.1:4000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.7"))
            .to_http_request()
    }

    #[test]
    fn behind_a_trusted_proxy_the_address_it_appended_counts() {
        assert_eq!(client_ip(&request(), true).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn without_trust_forwarded_headers_are_ignored() {
        assert_eq!(client_ip(&request(), false).as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn with_several_header_lines_the_last_entry_of_the_last_line_counts() {
        let request = TestRequest::default()
            .peer_addr("192.0.2.1:4000".parse().unwrap())
            .append_header(("x-forwarded-for", "6.6.6.6"))
            .append_header(("x-forwarded-for", "7.7.7.7, 203.0.113.7"))
            .to_http_request();

        assert_eq!(client_ip(&request, true).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn an_empty_last_entry_falls_back_to_the_peer_not_to_an_earlier_entry() {
        let request = TestRequest::default()
            .peer_addr("192.0.2.1:4000".parse().unwrap())
            .append_header(("x-forwarded-for", "6.6.6.6"))
            .append_header(("x-forwarded-for", ""))
            .to_http_request();

        assert_eq!(client_ip(&request, true).as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn addresses_read_as_the_standard_library_writes_them() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "203.0.113.7",
            "::",
            "2001:db8::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:203.0.113.7",
            "64:ff9b::192.0.2.33",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let address = ClientAddress::Ip(ip.to_canonical());
            let mut written = b"line: ".to_vec();
            address.write_to(&mut written);
            assert_eq!(written, format!("line: {}", ip.to_canonical()).as_bytes());
            assert_eq!(address.into_string(), ip.to_canonical().to_string());
        }
    }

    #[test]
    fn entries_lose_ports_and_brackets_and_mapped_addresses_become_ipv4() {
        let parsed = |entry: &str| parse_entry(entry).into_string();
        assert_eq!(parsed("203.0.113.7:5555"), "203.0.113.7");
        assert_eq!(parsed("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(parsed("[2001:db8::1]"), "2001:db8::1");
        assert_eq!(parsed("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(parsed(&"x".repeat(100)).len(), 64);
        let mut written = Vec::new();
        parse_entry(&"x".repeat(100)).write_to(&mut written);
        assert_eq!(written.len(), 64);
    }
}
