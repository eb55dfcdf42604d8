//! The network edge: which peers are proxies, how many connections one address may hold, how
//! long a request body may take, and whether a request's client is still there.

pub mod body_deadline;
pub mod cidr;
pub mod connection_limit;
pub mod liveness;

pub use body_deadline::enforce_body_deadline;
pub use cidr::{Cidr, subscriber};
pub use connection_limit::ConnectionLimiter;
