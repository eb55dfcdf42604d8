//! HTTP-level tests: each starts authd on a fresh database and runs on SQLite and PostgreSQL.

mod helpers;

mod admin;
mod authorization_code;
mod backchannel_logout;
mod bad_input;
mod browser_clients;
mod cli;
mod client_credentials;
mod client_policy;
mod delegation;
mod durability;
mod edge;
mod health;
mod import;
mod interop;
mod introspect;
mod janitor;
mod jwt_attacks;
mod key_revocation;
mod keys;
mod login_limits;
mod logout_clients;
mod openapi;
mod password_grant;
mod properties;
mod refresh_grant;
mod refresh_races;
mod resilience;
mod revoke;
mod security;
mod signin_support;
mod store;
mod token_requests;
mod upgrade;
