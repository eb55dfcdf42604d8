//! Assembles the application: store, keys, hasher, routes, listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use utoipa_actix_web::AppExt;

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::credentials::{DeviceCookies, LockoutPolicy, PasswordHasher};
use crate::error::{json_error_handler, path_error_handler, query_error_handler};
use crate::janitor::spawn_janitor;
use crate::logout_delivery::spawn_logout_delivery;
use crate::net::{AllowedOrigins, ConnectionLimiter};
use crate::routes;
use crate::store::Store;
use crate::tokens::{KeyManager, TokenService};

/// Largest JSON body the admin API accepts.
const JSON_LIMIT_BYTES: usize = 64 * 1024;

/// Logs each database setting that could lose an acknowledged write; never stops start-up.
async fn warn_if_not_durable(store: &Store) {
    match store.durability_warnings().await {
        Ok(warnings) => warnings.iter().for_each(|warning| log::warn!("{warning}")),
        Err(error) => log::warn!("could not read the database's durability settings: {error}"),
    }
}

/// A bound, ready-to-run authd.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    audit: web::Data<AuditLog>,
    /// The audit writer's own connections (PostgreSQL), closed after its last batch.
    audit_store: Store,
}

impl Application {
    /// Connects to the database, applies migrations, loads keys and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database).await?;
        store.migrate().await?;
        Self::build_with_store(settings, store).await
    }

    /// Like `build`, on an already migrated store.
    pub async fn build_with_store(settings: Settings, store: Store) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, store, Clock::default()).await
    }

    /// Like `build`, with the clock the browser flows read (tests move it).
    pub async fn build_with_clock(
        mut settings: Settings,
        store: Store,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.server.bind).map_err(|e| {
            anyhow::anyhow!(
                "server.bind: cannot listen on {}: {e}",
                settings.server.bind
            )
        })?;
        let bound = listener.local_addr()?;
        settings.check_production_safety(bound)?;
        let issuer = settings.issuer_for(bound);
        if settings.tokens.issuer.is_none() {
            log::warn!(
                "tokens.issuer is not set; using {issuer}. Set it to the public URL, and to the \
                 same value on every instance that shares this database"
            );
        }
        settings.tokens.issuer = Some(issuer.clone());
        let audience = settings
            .tokens
            .audience
            .clone()
            .unwrap_or_else(|| issuer.clone());

        warn_if_not_durable(&store).await;
        let keys = Arc::new(KeyManager::start(store.clone(), &settings).await?);
        keys.spawn_reloader(Duration::from_millis(
            settings.keys.reload_interval_ms.max(100),
        ));
        let tokens = TokenService::new(
            keys,
            issuer.clone(),
            audience,
            settings.tokens.access_ttl_secs,
            settings.tokens.leeway_secs,
            settings.oauth.default_client_id.clone(),
        )
        .with_max_lifetime(settings.tokens.max_lifetime_secs);
        let hasher = PasswordHasher::new(&settings.passwords, settings.hash_concurrency())?;
        // The writer's last batch is written after the workers stop (see `with_own_pool`).
        let audit_store = store.with_own_pool(1);
        let audit = web::Data::new(AuditLog::start(audit_store.clone()));
        let cache = web::Data::from(CredentialCache::start(store.clone(), &settings).await?);
        let audit_handle = audit.clone();
        spawn_janitor(store.clone(), &settings);
        spawn_logout_delivery(
            store.clone(),
            tokens.keys().clone(),
            audit.get_ref().clone(),
            issuer.clone(),
            &settings.logout,
        )?;
        let lockout = web::Data::new(LockoutPolicy::new(&settings.security));
        let device_cookies = web::Data::new(DeviceCookies::new(
            tokens.keys().device_cookie_key(),
            issuer.starts_with("https://"),
        ));
        log::info!(
            "authd listening on {bound} (issuer {issuer}, {} store, {:?} tokens)",
            store.backend(),
            settings.tokens.algorithm
        );

        let store_data = web::Data::new(store.clone());
        let tokens = web::Data::new(tokens);
        let hasher = web::Data::new(hasher);
        let origins = web::Data::new(AllowedOrigins::new(store.clone()));
        let resources = web::Data::new(crate::resources::ResourceRegistry::new(store.clone()));
        let form_limit = settings.server.max_form_bytes;
        let workers = settings.server.workers;
        let grace = settings.server.shutdown_grace_secs;
        let request_timeout = Duration::from_secs(settings.server.request_timeout_secs);
        let connections = ConnectionLimiter::new(
            settings.server.max_connections_per_address,
            settings.security.trusted_proxies.clone(),
        );
        let settings = web::Data::new(settings);
        let clock = web::Data::new(clock);
        let code_writer = web::Data::new(crate::store::CodeWriter::start(store.clone()));
        let page_keys = web::Data::new(crate::signin::PageKeys::derive(
            tokens.keys().page_secret(),
        )?);
        let passkeys = web::Data::new(crate::mfa::passkeys::Passkeys::new(&settings, &issuer)?);
        let totp_sealer = web::Data::new(crate::mfa::totp::TotpSealer::derive(
            tokens.keys().page_secret(),
        )?);
        let dpop = web::Data::new(crate::dpop::Dpop::new(
            &settings.dpop,
            &issuer,
            tokens.keys().page_secret(),
        )?);
        let dpop_upkeep = dpop.clone();
        let token_services = web::Data::new(routes::TokenServices {
            store: store.clone(),
            hasher: hasher.clone(),
            tokens: tokens.clone(),
            settings: settings.clone(),
            cache: cache.clone(),
            audit: audit.clone(),
            lockout: lockout.clone(),
            device_cookies: device_cookies.clone(),
            clock: clock.clone(),
            code_writer: code_writer.clone(),
            page_keys: page_keys.clone(),
            totp_sealer: totp_sealer.clone(),
            resources: resources.clone(),
            dpop: dpop.clone(),
        });
        let openapi = web::Data::new(routes::openapi::OpenApiJson(
            routes::openapi_document().to_json()?,
        ));
        let limit_connections = connections.on_connect();
        // Per connection: its address's share of connections, and its socket (for liveness).
        let on_connect = move |connection: &dyn std::any::Any,
                               data: &mut actix_web::dev::Extensions| {
            limit_connections(connection, data);
            crate::net::liveness::remember_socket(connection, data);
        };
        let mut server = HttpServer::new(move || {
            App::new()
                // The access log, metrics, CORS, DPoP nonces and the body deadline, in one layer.
                .wrap(actix_web::middleware::from_fn(crate::net::edge))
                .app_data(web::PayloadConfig::new(form_limit))
                .app_data(store_data.clone())
                .app_data(tokens.clone())
                .app_data(hasher.clone())
                .app_data(settings.clone())
                .app_data(audit.clone())
                .app_data(cache.clone())
                .app_data(lockout.clone())
                .app_data(origins.clone())
                .app_data(resources.clone())
                .app_data(device_cookies.clone())
                .app_data(openapi.clone())
                .app_data(clock.clone())
                .app_data(page_keys.clone())
                .app_data(passkeys.clone())
                .app_data(totp_sealer.clone())
                .app_data(code_writer.clone())
                .app_data(dpop.clone())
                .app_data(token_services.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(JSON_LIMIT_BYTES)
                        .error_handler(json_error_handler),
                )
                .app_data(web::QueryConfig::default().error_handler(query_error_handler))
                .app_data(web::PathConfig::default().error_handler(path_error_handler))
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
        })
        .on_connect(on_connect)
        .shutdown_timeout(grace)
        .client_request_timeout(request_timeout)
        .client_disconnect_timeout(Duration::from_secs(1));
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?;
        crate::memory_upkeep::spawn(dpop_upkeep);
        Ok(Self {
            port: bound.port(),
            server: server.run(),
            store,
            audit: audit_handle,
            audit_store,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is asked to stop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Events of the last requests are written before the pool goes away.
        self.audit.flush().await;
        self.store.close().await;
        self.audit_store.close().await;
        result
    }
}
