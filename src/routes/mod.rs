//! HTTP routes; each group exposes `configure`, and the OpenAPI document is collected from them.

pub mod admin;
pub(crate) mod client_ip;
mod device_authorization;
mod fallback;
mod form;
mod health;
mod introspect;
mod me;
mod metrics;
pub mod openapi;
mod openid;
mod par;
mod revoke;
mod token;
pub mod web;
mod well_known;

use utoipa_actix_web::service_config::ServiceConfig;

pub use form::{FormBody, OAuthForm};
pub use token::TokenServices;

/// Mounts every route.
pub fn configure(cfg: &mut ServiceConfig) {
    health::configure(cfg);
    token::configure(cfg);
    introspect::configure(cfg);
    par::configure(cfg);
    device_authorization::configure(cfg);
    revoke::configure(cfg);
    well_known::configure(cfg);
    openid::configure(cfg);
    me::configure(cfg);
    metrics::configure(cfg);
    openapi::configure(cfg);
    web::configure(cfg);
    cfg.service(utoipa_actix_web::scope("/admin").configure(admin::configure));
    cfg.default_service(actix_web::web::to(fallback::answer_unmatched));
}

/// The OpenAPI document of everything `configure` mounts.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    use utoipa_actix_web::AppExt;
    let (_, document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    document
}
