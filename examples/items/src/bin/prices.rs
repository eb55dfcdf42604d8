//! `prices`: the second example service, which items calls on its callers' behalf; it accepts
//! only tokens addressed to its own resource URI (`PRICES_AUDIENCE`).

use std::net::TcpListener;

use actix_web::{App, HttpServer, middleware, web};
use authd_client::AuthdClient;
use items::config::{PRICES, Settings};
use items::prices;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let settings = Settings::from_env(&PRICES).map_err(std::io::Error::other)?;
    let config = settings.client_config();
    let audience = config.expected_audience().to_owned();
    let client = web::Data::new(AuthdClient::new(config).map_err(std::io::Error::other)?);
    // Bind first, so that PRICES_BIND may use port 0 and the log shows the real port.
    let listener = TcpListener::bind(settings.bind)?;
    log::info!(
        "prices listening on http://{} ({} mode against {}, tokens for {audience})",
        listener.local_addr()?,
        settings.mode.as_str(),
        settings.authd_url
    );
    HttpServer::new(move || {
        App::new()
            .wrap(middleware::Logger::new("%a %U %s %b %Dms"))
            .app_data(client.clone())
            .configure(prices::configure)
    })
    .listen(listener)?
    .run()
    .await
}
