//! The caller's address, for lockout counters and the audit trail.

use actix_web::HttpRequest;

/// The peer's IP, or the first forwarded address when the proxy in front is trusted.
pub fn client_ip(request: &HttpRequest, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        let info = request.connection_info();
        let address = info.realip_remote_addr()?;
        // Strip a port, keeping IPv6 brackets' content.
        let host = match address.parse::<std::net::SocketAddr>() {
            Ok(socket) => socket.ip().to_string(),
            Err(_) => address.trim_matches(['[', ']']).to_owned(),
        };
        return Some(host.chars().take(64).collect());
    }
    request.peer_addr().map(|peer| peer.ip().to_string())
}
