//! The OpenAPI 3 document, collected from the handlers as they are mounted.

use actix_web::{HttpResponse, get, web};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi, PartialSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::routes::admin::wire::ErrorResponse;

/// Title, description and security schemes; the paths come from `routes::configure`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd",
        description = "OAuth 2.0 token issuer: tokens, introspection, revocation, discovery and administration."
    ),
    modifiers(&SecuritySchemes, &SharedResponses)
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
        // How the bearer tokens are obtained; `/token` is the token URL of both flows.
        let scopes = || {
            Scopes::from_iter(
                crate::domain::ADMIN_SCOPES
                    .iter()
                    .map(|scope| (*scope, "admin API")),
            )
        };
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([
                Flow::Password(Password::with_refresh_url("/token", scopes(), "/token")),
                Flow::ClientCredentials(ClientCredentials::new("/token", scopes())),
            ])),
        );
    }
}

/// Paths that never touch the database, so never answer 503.
const WITHOUT_DATABASE: [&str; 3] = ["/healthz", "/openapi.json", "/.well-known/jwks.json"];

/// Answers any route may give from outside its handler: 413 for an oversized body (the
/// payload limits in `startup.rs`), 408 for a body that arrives too slowly
/// (`server.request_body_timeout_secs`) and 503 while the database is unreachable.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error_body = || {
            RefOr::T(Content::new(Some(RefOr::Ref(Ref::from_schema_name(
                "ErrorResponse",
            )))))
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut too_large = Response::new("the body exceeds the size limit");
        too_large
            .content
            .insert("application/json".into(), error_body());
        let mut unavailable =
            Response::new("the database is unreachable; retry after the `Retry-After` seconds");
        unavailable
            .content
            .insert("application/json".into(), error_body());
        components
            .responses
            .insert("PayloadTooLarge".into(), RefOr::T(too_large));
        components
            .responses
            .insert("Unavailable".into(), RefOr::T(unavailable));
        let mut too_slow = Response::new(
            "the body did not arrive within `server.request_body_timeout_secs`; the connection is closed",
        );
        too_slow
            .content
            .insert("application/json".into(), error_body());
        components
            .responses
            .insert("BodyTimeout".into(), RefOr::T(too_slow));
        // The schema of the shared error body, in case no handler mentions it.
        components
            .schemas
            .entry("ErrorResponse".into())
            .or_insert_with(ErrorResponse::schema);
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_shared_responses(operation, !WITHOUT_DATABASE.contains(&path.as_str()));
            }
        }
    }
}

fn add_shared_responses(operation: &mut Operation, uses_database: bool) {
    let responses = &mut operation.responses.responses;
    if operation.request_body.is_some() {
        // JSON on every route: the form routes answer RFC 6749's shape (`FormBody`).
        responses
            .entry("413".into())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("PayloadTooLarge")));
        responses
            .entry("408".into())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("BodyTimeout")));
    }
    if uses_database {
        responses
            .entry("503".into())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unavailable")));
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
