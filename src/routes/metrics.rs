//! `GET /metrics`: Prometheus text format.

use actix_web::{HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::metrics::METRICS;
use crate::store::Store;

/// Mounts `/metrics`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show_metrics);
}

/// Counters and histograms for Prometheus. Expose it on an internal network only.
#[utoipa::path(tag = "health", responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain")))]
#[get("/metrics")]
async fn show_metrics(store: web::Data<Store>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(METRICS.render(&store))
}
