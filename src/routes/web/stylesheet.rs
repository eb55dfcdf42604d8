//! The pages' one stylesheet, at a URL that names its content hash.

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

use super::pages::{STYLESHEET, stylesheet_path};

/// Mounts `/static/{file}`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(stylesheet);
}

/// The stylesheet, cached for a year (its URL changes with it).
#[utoipa::path(tag = "browser", params(("file" = String, Path)), responses((status = 200, description = "text/css"), (status = 404)))]
#[get("/static/{file}")]
async fn stylesheet(file: web::Path<String>) -> HttpResponse {
    if stylesheet_path().strip_prefix("/static/") != Some(file.as_str()) {
        return ApiError::NotFound("no such stylesheet".into()).error_response();
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .content_type("text/css; charset=utf-8")
        .body(STYLESHEET)
}
