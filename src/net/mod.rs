//! The network edge: one middleware around every request (`edge`), what each request leaves in
//! the access log, which peers are proxies, how many connections one address may hold, how
//! long a request body may take, whether a request's client is still there, and which browser
//! origins may call.

pub mod access_log;
pub mod body_deadline;
pub mod cidr;
pub mod connection_limit;
pub mod cors;
mod edge;
pub mod liveness;

pub use cidr::{Cidr, subscriber};
pub use connection_limit::ConnectionLimiter;
pub use cors::AllowedOrigins;
pub use edge::edge;
