//! The caller's address, for lockout counters and the audit trail.

use actix_web::HttpRequest;

/// The peer's IP, or, behind a trusted proxy, the address that proxy appended to
/// `X-Forwarded-For`.
pub fn client_ip(request: &HttpRequest, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        // The last entry is the one our proxy wrote; earlier ones are whatever the client sent,
        // and trusting them would let an attacker pick the address its failures count against.
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let peer = request.peer_addr().map(|peer| peer.ip().to_string());
        let address = forwarded.map(str::to_owned).or(peer)?;
        // Strip a port, keeping IPv6 brackets' content.
        let host = match address.parse::<std::net::SocketAddr>() {
            Ok(socket) => socket.ip().to_string(),
            Err(_) => address.trim_matches(['[', ']']).to_owned(),
        };
        return Some(host.chars().take(64).collect());
    }
    request.peer_addr().map(|peer| peer.ip().to_string())
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
}
