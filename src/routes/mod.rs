//! HTTP routes; each group exposes `configure`.

mod form;
mod health;
mod introspect;
mod revoke;
mod token;
mod well_known;

use actix_web::web;

pub use form::OAuthForm;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    token::configure(cfg);
    introspect::configure(cfg);
    revoke::configure(cfg);
    well_known::configure(cfg);
}
