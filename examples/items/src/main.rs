//! `items`: a sibling service whose routes are guarded by authd through `authd-client`.

use std::net::TcpListener;

use actix_web::{App, HttpServer, middleware, web};
use authd_client::AuthdClient;
use items::config::{ITEMS, Settings};
use items::item_price::{self, PricesClient};
use items::routes;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let settings = Settings::from_env(&ITEMS).map_err(std::io::Error::other)?;
    let client = AuthdClient::new(settings.client_config()).map_err(std::io::Error::other)?;
    let prices = match (&settings.prices, settings.exchange_config()) {
        (Some(link), Some(exchange)) => {
            log::info!(
                "GET /items/{{id}}/price asks {} for {}",
                link.url,
                link.resource
            );
            Some(web::Data::new(
                PricesClient::new(link.clone(), exchange).map_err(std::io::Error::other)?,
            ))
        }
        _ => {
            log::info!("GET /items/{{id}}/price is off: ITEMS_PRICES_URL is not set");
            None
        }
    };
    // Bind first, so that ITEMS_BIND may use port 0 and the log shows the real port.
    let listener = TcpListener::bind(settings.bind)?;
    log::info!(
        "items listening on http://{} ({} mode against {})",
        listener.local_addr()?,
        settings.mode.as_str(),
        settings.authd_url
    );
    match &settings.public_url {
        Some(url) => log::info!("DPoP-bound tokens accepted with proofs for {url}"),
        None => log::info!("DPoP-bound tokens refused: ITEMS_PUBLIC_URL is not set"),
    }
    let client = web::Data::new(client);
    let store = web::Data::new(routes::ItemStore::default());
    HttpServer::new(move || {
        let mut app = App::new()
            .wrap(middleware::Logger::new("%a %U %s %b %Dms"))
            .app_data(client.clone())
            .app_data(store.clone())
            .configure(routes::configure);
        if let Some(prices) = &prices {
            app = app
                .app_data(prices.clone())
                .configure(item_price::configure);
        }
        app
    })
    .listen(listener)?
    .run()
    .await
}
