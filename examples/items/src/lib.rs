//! The example services guarded by authd: `items` (src/main.rs) and `prices` (src/bin/prices.rs),
//! which items calls on its callers' behalf through token exchange (RFC 8693).

pub mod config;
pub mod item_price;
pub mod prices;
pub mod routes;
