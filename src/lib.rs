//! authd: a standalone OAuth 2.0 token issuer.

pub mod allocator;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod credential_cache;
pub mod credentials;
pub mod domain;
pub mod dpop;
pub mod error;
pub mod exchange;
pub mod inspection;
pub mod janitor;
pub mod logout_delivery;
pub mod metrics;
pub mod mfa;
pub mod net;
pub mod openid;
pub mod par;
pub mod resources;
pub mod routes;
pub mod signin;
pub mod startup;
pub mod store;
pub mod tokens;
