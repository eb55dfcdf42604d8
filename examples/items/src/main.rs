//! `items`: a sibling service whose routes are guarded by authd through `authd-client`.

mod config;
mod routes;

use std::net::TcpListener;

use actix_web::{App, HttpServer, middleware, web};
use authd_client::AuthdClient;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let settings = config::Settings::from_env().map_err(std::io::Error::other)?;
    let client = AuthdClient::new(settings.client_config()).map_err(std::io::Error::other)?;
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
        App::new()
            .wrap(middleware::Logger::new("%a %U %s %b %Dms"))
            .app_data(client.clone())
            .app_data(store.clone())
            .configure(routes::configure)
    })
    .listen(listener)?
    .run()
    .await
}
