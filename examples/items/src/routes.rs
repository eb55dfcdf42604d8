//! The items API: read with `items:read`, write with `items:write`, and an admin-only page.

use std::sync::Mutex;

use actix_web::{HttpResponse, get, post, web};
use authd_client::Require;
use serde::{Deserialize, Serialize};
use serde_json::json;

authd_client::scope!(ItemsRead, "items:read");
authd_client::scope!(ItemsWrite, "items:write");
authd_client::role!(Admin, "admin");

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_items)
        .service(create_item)
        .service(admin_only)
        .service(health);
}

/// One item.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    id: u64,
    name: String,
    owner: String,
}

/// The body of `POST /items`.
#[derive(Debug, Deserialize)]
pub struct CreateItemRequest {
    name: String,
}

/// Items in memory, lost at restart: this is an example.
#[derive(Default)]
pub struct ItemStore(Mutex<Vec<Item>>);

#[get("/items")]
async fn list_items(_: Require<ItemsRead>, store: web::Data<ItemStore>) -> HttpResponse {
    let items = store.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    HttpResponse::Ok().json(items)
}

#[post("/items")]
async fn create_item(
    caller: Require<ItemsWrite>,
    store: web::Data<ItemStore>,
    body: web::Json<CreateItemRequest>,
) -> HttpResponse {
    let name = body.into_inner().name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return HttpResponse::BadRequest().json(json!({
            "error": "invalid_request",
            "error_description": "name must be 1 to 100 characters",
        }));
    }
    let mut items = store.0.lock().unwrap_or_else(|e| e.into_inner());
    let item = Item {
        id: items.len() as u64 + 1,
        name,
        owner: caller
            .username
            .clone()
            .unwrap_or_else(|| caller.subject.clone()),
    };
    items.push(item.clone());
    HttpResponse::Created().json(item)
}

#[get("/admin-only")]
async fn admin_only(caller: Require<Admin>) -> HttpResponse {
    let who = caller.username.as_deref().unwrap_or(&caller.subject);
    HttpResponse::Ok().json(json!({ "message": format!("hello, admin {who}") }))
}

#[get("/healthz")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}
