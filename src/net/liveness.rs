//! Whether the client of a request is still connected.
//!
//! actix-web keeps running a handler after its client hangs up (actix/actix-web#1313), so work
//! queued for a client that left would still be done. Each connection records its socket, and a
//! non-consuming peek tells whether the peer has closed it.

use std::any::Any;
use std::os::fd::{AsRawFd, RawFd};

use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;

use crate::credentials::StillWaiting;

/// The socket of one client connection.
#[derive(Debug, Clone, Copy)]
struct ConnectionSocket(RawFd);

/// `HttpServer::on_connect` hook: remembers the connection's socket.
pub fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    if let Some(stream) = connection.downcast_ref::<TcpStream>() {
        data.insert(ConnectionSocket(stream.as_raw_fd()));
    }
}

/// A check that answers false once the request's client has closed its connection.
pub fn still_waiting(request: &HttpRequest) -> Option<StillWaiting> {
    let socket = *request.conn_data::<ConnectionSocket>()?;
    Some(Box::new(move || peer_is_connected(socket.0)))
}

fn peer_is_connected(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: recv writes at most one byte into `byte`. MSG_PEEK consumes nothing, so the
    // connection's own reads are unaffected. The socket outlives the request that asks (the
    // connection owns it); should it be closed and its number reused in between, the answer
    // only decides whether one password is checked, never touches memory.
    let received = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match received {
        // An orderly shutdown by the peer.
        0 => false,
        n if n > 0 => true,
        _ => matches!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EAGAIN | libc::EINTR)
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream as StdStream};

    use super::*;

    #[test]
    fn a_closed_peer_is_noticed_and_pending_data_is_left_unread() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert!(peer_is_connected(server.as_raw_fd()));
        client.write_all(b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(peer_is_connected(server.as_raw_fd()));
        assert!(
            peer_is_connected(server.as_raw_fd()),
            "peeking consumed data"
        );
        drop(client);
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Unread data comes first; a connection with data pending still reads as open.
        let mut buf = [0u8; 1];
        std::io::Read::read(&mut &server, &mut buf).unwrap();
        assert!(!peer_is_connected(server.as_raw_fd()));
    }
}
