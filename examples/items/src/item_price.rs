//! `GET /items/{id}/price`: items asks prices on its caller's behalf. It never forwards the
//! caller's token; it exchanges it at authd (RFC 8693) for one addressed to prices with only
//! `prices:read`, presenting its own token as the actor, so prices sees who called through whom.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use authd_client::Require;
use authd_client::exchange::{
    ExchangeConfig, ExchangeError, ExchangeTarget, PresentedToken, TokenExchanger,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::config::PricesLink;
use crate::routes::{ItemStore, ItemsRead};

/// The scope items asks for on prices' behalf, and the only one the exchanged token carries.
const PRICES_SCOPE: &str = "prices:read";

/// How items reaches prices: the exchange at authd and the HTTP client for prices.
pub struct PricesClient {
    exchanger: TokenExchanger,
    http: reqwest::Client,
    link: PricesLink,
}

impl PricesClient {
    /// Builds the client; contacts neither authd nor prices until a request comes.
    pub fn new(link: PricesLink, exchange: ExchangeConfig) -> Result<Self, String> {
        let exchanger = TokenExchanger::new(exchange).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the HTTP client for prices: {e}"))?;
        Ok(Self {
            exchanger,
            http,
            link,
        })
    }

    /// The price of item `id` from prices, asked with a token exchanged from `presented`.
    async fn price(&self, presented: &PresentedToken, id: u64) -> Result<Value, PriceError> {
        let target = ExchangeTarget::resource(&self.link.resource).scope(PRICES_SCOPE);
        let token = self
            .exchanger
            .exchange(presented, &target)
            .await
            .map_err(PriceError::Exchange)?;
        let url = format!("{}/prices/{id}", self.link.url);
        let response = self
            .http
            .get(&url)
            .bearer_auth(token.access_token().expose_secret())
            .send()
            .await
            .map_err(|error| {
                log::error!("calling {url} failed: {error}");
                PriceError::PricesUnreachable
            })?;
        let status = response.status();
        if !status.is_success() {
            let challenge = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            log::error!("prices answered {status} ({challenge}) to an exchanged token");
            return Err(PriceError::PricesRefused(status.as_u16()));
        }
        response.json().await.map_err(|error| {
            log::error!("prices sent an unreadable answer: {error}");
            PriceError::PricesUnreachable
        })
    }
}

/// Why no price came back.
#[derive(Debug)]
enum PriceError {
    Exchange(ExchangeError),
    PricesUnreachable,
    PricesRefused(u16),
}

impl PriceError {
    /// 403 when the caller's token is what authd refused to exchange; 502 when authd, prices or
    /// items' own registration failed: the caller can do nothing about those.
    fn response(&self) -> HttpResponse {
        match self {
            PriceError::Exchange(ExchangeError::Refused {
                code, description, ..
            }) if code == "invalid_scope" => HttpResponse::Forbidden()
                // RFC 6750 section 3.1: name the scope a new token would need.
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        r#"Bearer realm="items", error="insufficient_scope", scope="{PRICES_SCOPE}""#
                    ),
                ))
                .json(json!({
                    "error": "insufficient_scope",
                    "error_description": format!(
                        "the access token does not allow items to ask prices for you \
                         ({PRICES_SCOPE}){}",
                        authd_says(description)
                    ),
                })),
            PriceError::Exchange(error @ ExchangeError::Refused { description, .. })
                if error.is_subject_refused() =>
            {
                log::warn!("authd refused to exchange a caller's token: {error}");
                HttpResponse::Forbidden().json(json!({
                    "error": "exchange_refused",
                    "error_description": format!(
                        "authd will not exchange this access token for prices{}",
                        authd_says(description)
                    ),
                }))
            }
            PriceError::Exchange(error) => {
                log::error!("token exchange for prices failed: {error}");
                bad_gateway("token exchange at authd failed")
            }
            PriceError::PricesUnreachable => bad_gateway("prices is unreachable"),
            PriceError::PricesRefused(status) => bad_gateway(&format!(
                "prices refused the exchanged token ({status})"
            )),
        }
    }
}

/// `: why`, from authd's `error_description`, for a refusal the caller can act on.
fn authd_says(description: &Option<String>) -> String {
    description
        .as_deref()
        .map_or_else(String::new, |d| format!(": {d}"))
}

fn bad_gateway(description: &str) -> HttpResponse {
    HttpResponse::BadGateway().json(json!({
        "error": "bad_gateway",
        "error_description": description,
    }))
}

/// Mounts `GET /items/{id}/price`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_item_price);
}

#[get("/items/{id}/price")]
async fn get_item_price(
    _: Require<ItemsRead>,
    presented: PresentedToken,
    store: web::Data<ItemStore>,
    prices: web::Data<PricesClient>,
    id: web::Path<u64>,
) -> HttpResponse {
    let Some(item) = store.find(*id) else {
        return HttpResponse::NotFound().json(json!({
            "error": "not_found",
            "error_description": "no such item",
        }));
    };
    match prices.price(&presented, *id).await {
        Ok(price) => HttpResponse::Ok().json(json!({ "item": item, "price": price })),
        Err(error) => error.response(),
    }
}
