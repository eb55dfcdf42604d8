//! The prices service: what an item costs, for tokens addressed to prices (`aud`, checked by
//! authd-client) that grant `prices:read`. Each answer says whose token it was and who carried it
//! here (the `act` chain of an exchanged token, RFC 8693 section 4.1).

use actix_web::{HttpResponse, get, web};
use authd_client::{Caller, Require};
use serde::Serialize;
use serde_json::json;

authd_client::scope!(PricesRead, "prices:read");

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_price).service(health);
}

/// The answer of `GET /prices/{id}`.
#[derive(Debug, Serialize)]
pub struct PriceResponse {
    item_id: u64,
    amount_cents: u64,
    currency: &'static str,
    /// Whose token this is: the user (or client) the price is quoted for.
    subject: String,
    username: Option<String>,
    /// The client the token was issued to.
    client_id: String,
    /// Who acts for the subject, the current actor first; empty for the subject's own token.
    actors: Vec<ActorView>,
}

/// One entry of the `act` chain.
#[derive(Debug, Serialize)]
pub struct ActorView {
    sub: String,
    client_id: Option<String>,
}

impl PriceResponse {
    fn quote(item_id: u64, caller: &Caller) -> Self {
        Self {
            item_id,
            amount_cents: price_cents(item_id),
            currency: "EUR",
            subject: caller.subject.clone(),
            username: caller.username.clone(),
            client_id: caller.client_id.clone(),
            actors: caller
                .actor
                .iter()
                .flat_map(|actor| actor.chain())
                .map(|actor| ActorView {
                    sub: actor.subject.clone(),
                    client_id: actor.client_id.clone(),
                })
                .collect(),
        }
    }
}

/// A made-up but stable price: this is an example.
fn price_cents(item_id: u64) -> u64 {
    100 + item_id.wrapping_mul(7_919) % 9_900
}

#[get("/prices/{id}")]
async fn get_price(caller: Require<PricesRead>, id: web::Path<u64>) -> HttpResponse {
    HttpResponse::Ok().json(PriceResponse::quote(*id, &caller))
}

#[get("/healthz")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[cfg(test)]
mod tests {
    use authd_client::Actor;

    use super::*;

    #[test]
    fn a_quote_names_the_subject_and_every_actor_from_the_current_one_back() {
        let actor: Actor = serde_json::from_value(json!({
            "sub": "items", "client_id": "items", "act": {"sub": "gateway"}
        }))
        .unwrap();
        let caller = Caller {
            subject: "u1".into(),
            client_id: "web".into(),
            username: Some("demo".into()),
            scopes: vec!["prices:read".into()],
            roles: Vec::new(),
            expires_at: 0,
            token_id: None,
            acr: None,
            amr: Vec::new(),
            auth_time: None,
            dpop_jkt: None,
            actor: Some(actor),
        };
        let quote = serde_json::to_value(PriceResponse::quote(7, &caller)).unwrap();
        assert_eq!(quote["subject"], "u1");
        assert_eq!(quote["amount_cents"], price_cents(7));
        assert_eq!(
            quote["actors"],
            json!([{"sub": "items", "client_id": "items"}, {"sub": "gateway", "client_id": null}])
        );
    }
}
