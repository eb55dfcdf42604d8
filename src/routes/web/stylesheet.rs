//! The pages' static files: the stylesheet and the passkey script, each at a URL that names its
//! content hash.

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

use super::pages::{STYLESHEET, stylesheet_path};
use super::passkeys::{PASSKEY_SCRIPT, passkey_script_path};

/// Mounts `/static/{file}`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(stylesheet);
}

/// The stylesheet or the passkey script, cached for a year (their URLs change with them).
#[utoipa::path(tag = "browser", params(("file" = String, Path)), responses((status = 200, description = "text/css or text/javascript"), (status = 404)))]
#[get("/static/{file}")]
async fn stylesheet(file: web::Path<String>) -> HttpResponse {
    let name = Some(file.as_str());
    let (content_type, body) = if stylesheet_path().strip_prefix("/static/") == name {
        ("text/css; charset=utf-8", STYLESHEET)
    } else if passkey_script_path().strip_prefix("/static/") == name {
        ("text/javascript; charset=utf-8", PASSKEY_SCRIPT)
    } else {
        return ApiError::NotFound("no such file".into()).error_response();
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .content_type(content_type)
        .body(body)
}
