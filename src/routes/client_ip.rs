//! The caller's address, for lockout counters and the audit trail.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The peer's IP, or, behind a trusted proxy, the address that proxy appended to
/// `X-Forwarded-For`. Addresses come out in one canonical form (IPv4-mapped IPv6 as IPv4).
pub fn client_ip(request: &HttpRequest, trust_forwarded_for: bool) -> Option<String> {
    let peer = request.peer_addr().map(|peer| canonical(peer.ip()));
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

/// An `X-Forwarded-For` entry without a port or brackets; anything else is kept as written (at
/// most 64 characters), so that distinct values are still counted apart.
fn parse_entry(entry: &str) -> String {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return canonical(ip);
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return canonical(socket.ip());
    }
    let unbracketed = entry.trim_matches(['[', ']']);
    match unbracketed.parse::<IpAddr>() {
        Ok(ip) => canonical(ip),
        Err(_) => unbracketed.chars().take(64).collect(),
    }
}

/// The address as text, built in a stack buffer and copied out once: `to_string` grew its
/// string through several allocations, twice for each token request (the access line and the
/// grant each ask).
fn canonical(ip: IpAddr) -> String {
    use std::io::Write;
    // The longest IPv6 text, `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`, is 45 bytes.
    let mut text = [0u8; 45];
    let mut cursor = std::io::Cursor::new(&mut text[..]);
    let written = write!(cursor, "{}", ip.to_canonical());
    let length = usize::try_from(cursor.position()).unwrap_or(0);
    match (written, std::str::from_utf8(&text[..length])) {
        (Ok(()), Ok(address)) => address.to_owned(),
        _ => ip.to_canonical().to_string(),
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
            assert_eq!(canonical(ip), ip.to_canonical().to_string());
        }
    }

    #[test]
    fn entries_lose_ports_and_brackets_and_mapped_addresses_become_ipv4() {
        assert_eq!(parse_entry("203.0.113.7:5555"), "203.0.113.7");
        assert_eq!(parse_entry("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(parse_entry("[2001:db8::1]"), "2001:db8::1");
        assert_eq!(parse_entry("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(parse_entry(&"x".repeat(100)).len(), 64);
    }
}
