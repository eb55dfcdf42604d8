//! The items API: read with `items:read`, write with `items:write`, delete with `items:write`
//! and a multi-factor sign-in (RFC 9470 step-up), and an admin-only page.

use std::sync::Mutex;

use actix_web::{HttpResponse, delete, get, post, web};
use authd_client::{ACR_MFA, Require, Requirement};
use serde::{Deserialize, Serialize};
use serde_json::json;

authd_client::scope!(pub ItemsRead, "items:read");
authd_client::scope!(ItemsWrite, "items:write");
authd_client::role!(Admin, "admin");

/// Deleting is for holders of `items:write` who signed in with a second factor: a token from
/// a password alone gets a 401 `insufficient_user_authentication` challenge.
pub struct DeleteItems;

impl Requirement for DeleteItems {
    const SCOPES: &'static [&'static str] = &["items:write"];
    const ACR_VALUES: &'static [&'static str] = &[ACR_MFA];
}

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_items)
        .service(create_item)
        .service(delete_item)
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

impl ItemStore {
    /// The item with `id`, if there is one.
    pub fn find(&self, id: u64) -> Option<Item> {
        let items = self.0.lock().unwrap_or_else(|e| e.into_inner());
        items.iter().find(|item| item.id == id).cloned()
    }
}

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
        // Ids are never reused, even after a deletion.
        id: items.iter().map(|item| item.id).max().unwrap_or(0) + 1,
        name,
        owner: caller
            .username
            .clone()
            .unwrap_or_else(|| caller.subject.clone()),
    };
    items.push(item.clone());
    HttpResponse::Created().json(item)
}

#[delete("/items/{id}")]
async fn delete_item(
    _: Require<DeleteItems>,
    store: web::Data<ItemStore>,
    id: web::Path<u64>,
) -> HttpResponse {
    let mut items = store.0.lock().unwrap_or_else(|e| e.into_inner());
    let before = items.len();
    items.retain(|item| item.id != *id);
    if items.len() == before {
        return HttpResponse::NotFound().json(json!({
            "error": "not_found",
            "error_description": "no such item",
        }));
    }
    HttpResponse::NoContent().finish()
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
