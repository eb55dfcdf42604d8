//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::store::Store;

/// Mounts `/healthz` and `/readyz`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(check_health).service(check_readiness);
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "alive")))]
#[get("/healthz")]
async fn check_health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers.
#[utoipa::path(tag = "health", responses((status = 200, description = "ready"), (status = 503, description = "the database does not answer")))]
#[get("/readyz")]
async fn check_readiness(store: web::Data<Store>) -> HttpResponse {
    match store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })),
        Err(error) => {
            log::warn!("readiness check failed: {error}");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({ "status": "unavailable", "database": "unreachable" }))
        }
    }
}
