//! The network edge: which peers are proxies, how many connections one address may hold, and how
//! long a request body may take.

pub mod body_deadline;
pub mod cidr;
pub mod connection_limit;

pub use body_deadline::enforce_body_deadline;
pub use cidr::Cidr;
pub use connection_limit::ConnectionLimiter;
