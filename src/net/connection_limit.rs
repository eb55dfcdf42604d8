//! At most `server.max_connections_per_address` open connections per client address, so one
//! address cannot hold every socket the process may open. IPv6 counts per /64 (one subscriber's
//! usual allocation), like the login throttle. Trusted proxies are exempt: behind a load balancer
//! every client shares its address.

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;

use crate::metrics::METRICS;
use crate::net::cidr::{Cidr, subscriber};

/// Counts open connections per address.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max_per_address: usize,
    trusted: Vec<Cidr>,
    // One entry per address with an open connection, removed when its last one closes, so the
    // map never holds more entries than there are open connections.
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// What a new connection from an address gets.
#[derive(Debug)]
pub enum Admission {
    /// No cap applies (trusted proxy, or the cap is off).
    Exempt,
    /// Counted; the count drops when this slot is dropped with the connection.
    Counted(ConnectionSlot),
    /// The address already holds its share.
    Refused,
}

/// One open connection's place in its address's count.
#[derive(Debug)]
pub struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    key: IpAddr,
}

impl ConnectionLimiter {
    /// A limiter allowing `max_per_address` connections (0: no cap) except from `trusted`.
    pub fn new(max_per_address: usize, trusted: Vec<Cidr>) -> Arc<Self> {
        Arc::new(Self {
            max_per_address,
            trusted,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Admits or refuses a connection from `peer`.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Admission {
        if self.max_per_address == 0 || self.trusted.iter().any(|net| net.contains(peer)) {
            return Admission::Exempt;
        }
        let key = subscriber(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.max_per_address {
            return Admission::Refused;
        }
        *count += 1;
        Admission::Counted(ConnectionSlot {
            limiter: self.clone(),
            key,
        })
    }

    /// Connections currently counted against `peer`'s address.
    pub fn open_connections(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&subscriber(peer)).copied().unwrap_or(0)
    }

    /// Addresses with at least one counted connection.
    pub fn tracked_addresses(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The `HttpServer::on_connect` hook: counts each new connection and closes it at once when
    /// its address is over the cap (no response: the handshake is all it costs us).
    pub fn on_connect(
        self: &Arc<Self>,
    ) -> impl Fn(&dyn Any, &mut Extensions) + Send + Sync + 'static {
        let limiter = self.clone();
        move |connection, extensions| {
            let Some(stream) = connection.downcast_ref::<TcpStream>() else {
                return;
            };
            let Ok(peer) = stream.peer_addr() else {
                return;
            };
            match limiter.admit(peer.ip()) {
                Admission::Exempt => {}
                // Dropped with the connection's extensions when the connection ends.
                Admission::Counted(slot) => {
                    extensions.insert(slot);
                }
                Admission::Refused => {
                    METRICS.connection_refused();
                    log::debug!("closing a connection from {peer}: too many open from its address");
                    // The dispatcher then reads end-of-stream and drops the connection.
                    let _ = socket2::SockRef::from(stream).shutdown(Shutdown::Both);
                }
            }
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .limiter
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_share_and_no_more_until_one_closes() {
        let limiter = ConnectionLimiter::new(2, vec![]);
        let first = limiter.admit(ip("192.0.2.1"));
        let _second = limiter.admit(ip("192.0.2.1"));
        assert!(matches!(limiter.admit(ip("192.0.2.1")), Admission::Refused));
        assert!(matches!(
            limiter.admit(ip("192.0.2.2")),
            Admission::Counted(_)
        ));

        drop(first);

        assert!(matches!(
            limiter.admit(ip("192.0.2.1")),
            Admission::Counted(_)
        ));
    }

    #[test]
    fn closed_addresses_leave_no_entry_behind() {
        let limiter = ConnectionLimiter::new(4, vec![]);
        let slots: Vec<_> = (1..=100)
            .map(|i| limiter.admit(ip(&format!("198.51.100.{i}"))))
            .collect();
        assert_eq!(limiter.tracked_addresses(), 100);

        drop(slots);

        assert_eq!(limiter.tracked_addresses(), 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let limiter = ConnectionLimiter::new(1, vec![]);
        let _slot = limiter.admit(ip("2001:db8:1:2::1"));
        assert!(matches!(
            limiter.admit(ip("2001:db8:1:2:ffff::9")),
            Admission::Refused
        ));
        assert!(matches!(
            limiter.admit(ip("2001:db8:1:3::1")),
            Admission::Counted(_)
        ));
        let _v4 = limiter.admit(ip("192.0.2.1"));
        assert!(matches!(
            limiter.admit(ip("::ffff:192.0.2.1")),
            Admission::Refused
        ));
    }

    #[test]
    fn trusted_proxies_and_a_zero_cap_are_exempt() {
        let limiter = ConnectionLimiter::new(1, vec![Cidr::parse("10.0.0.0/8").unwrap()]);
        for _ in 0..3 {
            assert!(matches!(limiter.admit(ip("10.1.2.3")), Admission::Exempt));
        }
        assert_eq!(limiter.open_connections(ip("10.1.2.3")), 0);
        let off = ConnectionLimiter::new(0, vec![]);
        assert!(matches!(off.admit(ip("192.0.2.1")), Admission::Exempt));
    }
}
