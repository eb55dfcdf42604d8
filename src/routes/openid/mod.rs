//! OpenID Connect endpoints: discovery and userinfo.

mod discovery;
mod userinfo;

use utoipa_actix_web::service_config::ServiceConfig;

pub use discovery::{metadata_document, metadata_response};

/// Mounts the OpenID Connect endpoints.
pub fn configure(cfg: &mut ServiceConfig) {
    discovery::configure(cfg);
    userinfo::configure(cfg);
}
