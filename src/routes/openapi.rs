//! The OpenAPI 3 document, collected from the handlers as they are mounted.

use actix_web::{HttpResponse, get, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;

/// Title, description and security schemes; the paths come from `routes::configure`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd",
        description = "OAuth 2.0 token issuer: tokens, introspection, revocation, discovery and administration."
    ),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

/// The document as served, rendered once at start-up.
pub struct OpenApiJson(pub String);

/// Mounts `/openapi.json`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_openapi);
}

/// This document.
#[utoipa::path(tag = "discovery", responses((status = 200, description = "OpenAPI 3 document")))]
#[get("/openapi.json")]
async fn show_openapi(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}
