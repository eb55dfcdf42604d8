//! Back-Channel Logout 1.0: a background task that POSTs a signed `logout_token` to every
//! client a session signed into, for each row `Store::end_sessions` queued.
//!
//! Rows live in the database, so a restart loses nothing and the request that ended the session
//! never waits for a client. Every instance may run the task: a row is claimed with a lease
//! (a conditional update of its due time) before it is sent, so two instances do not both send
//! it. A fresh token is signed for each attempt (relying parties reject old ones); failures are
//! retried with exponential backoff, and given up (audited) past `logout.backchannel_give_up_secs`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::{unix_now, unix_now_ms};
use crate::config::LogoutSettings;
use crate::domain::ClientId;
use crate::metrics::{BackchannelOutcome, METRICS};
use crate::store::{LogoutDelivery, Store, StoreError};
use crate::tokens::KeyManager;

/// The JOSE `typ` of logout tokens (Back-Channel Logout 1.0 section 2.4).
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";
/// The event a logout token carries (section 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Lifetime of a logout token.
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;
/// Rows sent per look at the queue, concurrently.
const BATCH: i64 = 32;

/// The claims of a logout token (section 2.4); never a `nonce`.
#[derive(Debug, Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    events: serde_json::Value,
    sub: &'a str,
    sid: &'a str,
}

/// An HTTP/1.1 client for http and https (rustls with aws-lc-rs, webpki roots). hyper never
/// follows redirects: one would send the token somewhere the client did not register.
type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What delivery needs, shared by the attempts of one look at the queue.
struct Deliverer {
    store: Store,
    keys: Arc<KeyManager>,
    audit: AuditLog,
    // Built at the first delivery: its root store costs memory that an idle server (most never
    // send a logout token) should not hold.
    http: tokio::sync::OnceCell<HttpClient>,
    issuer: String,
    settings: LogoutSettings,
}

fn http_client() -> anyhow::Result<HttpClient> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let connector = HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Starts the delivery task; it runs until the process ends.
pub fn spawn_logout_delivery(
    store: Store,
    keys: Arc<KeyManager>,
    audit: AuditLog,
    issuer: String,
    settings: &LogoutSettings,
) -> anyhow::Result<()> {
    let deliverer = Arc::new(Deliverer {
        store,
        keys,
        audit,
        http: tokio::sync::OnceCell::new(),
        issuer,
        settings: settings.clone(),
    });
    let poll = Duration::from_millis(settings.backchannel_poll_ms.max(10));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = deliverer.clone().run_once().await {
                log::warn!("back-channel logout delivery: {error}");
            }
        }
    });
    Ok(())
}

impl Deliverer {
    async fn run_once(self: Arc<Self>) -> Result<(), StoreError> {
        let now = unix_now_ms();
        let due = self.store.due_logout_deliveries(now, BATCH).await?;
        let mut attempts = tokio::task::JoinSet::new();
        // Long enough for one attempt; a crashed instance's claims come due again after it.
        let lease_ms = (self.settings.backchannel_timeout_secs as i64 + 30) * 1000;
        for delivery in due {
            if !self
                .store
                .claim_logout_delivery(&delivery.id, delivery.due_at, now + lease_ms)
                .await?
            {
                continue;
            }
            let this = self.clone();
            attempts.spawn(async move {
                if let Err(error) = this.attempt(&delivery).await {
                    log::warn!(
                        "back-channel logout to client {}: {error}",
                        delivery.client_id
                    );
                }
            });
        }
        while attempts.join_next().await.is_some() {}
        Ok(())
    }

    async fn attempt(&self, delivery: &LogoutDelivery) -> Result<(), StoreError> {
        let client = match ClientId::parse(&delivery.client_id) {
            Ok(id) => self.store.find_client(&id).await?,
            Err(_) => None,
        };
        // A client deleted (or registered anew) since has nobody left to tell.
        let Some(client) =
            client.filter(|client| client.registration == delivery.client_registration)
        else {
            return self.store.remove_logout_delivery(&delivery.id).await;
        };
        match self.send(delivery, client.id_token_signing_alg()).await {
            Ok(()) => {
                self.store.remove_logout_delivery(&delivery.id).await?;
                METRICS.backchannel_logout(BackchannelOutcome::Delivered);
                log::debug!(
                    "back-channel logout delivered to client {}",
                    delivery.client_id
                );
            }
            Err(why) => self.failed(delivery, &why).await?,
        }
        Ok(())
    }

    async fn send(&self, delivery: &LogoutDelivery, alg: Algorithm) -> Result<(), String> {
        let token = self.sign(delivery, alg)?;
        let body = serde_urlencoded::to_string([("logout_token", token.as_str())])
            .map_err(|e| format!("encoding failed: {e}"))?;
        let request = http::Request::post(delivery.uri.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| "the registered URI is not usable".to_owned())?;
        let timeout = Duration::from_secs(self.settings.backchannel_timeout_secs.max(1));
        // Why an attempt failed, in words safe for the audit trail (no token, no body).
        let http = self
            .http
            .get_or_try_init(|| async { http_client() })
            .await
            .map_err(|error| {
                log::error!("building the back-channel HTTP client failed: {error:#}");
                "no HTTP client".to_owned()
            })?;
        let response = match tokio::time::timeout(timeout, http.request(request)).await {
            Err(_) => return Err("timeout".into()),
            Ok(Err(error)) if error.is_connect() => return Err("connection failed".into()),
            Ok(Err(_)) => return Err("request failed".into()),
            Ok(Ok(response)) => response,
        };
        // Section 2.8: 200 OK (any 2xx) means the client logged the session out.
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", response.status().as_u16()))
        }
    }

    fn sign(&self, delivery: &LogoutDelivery, alg: Algorithm) -> Result<String, String> {
        // The client's id_token algorithm signs its logout tokens too.
        let key = self.keys.signing_key_for(alg).ok_or("no signing key")?;
        let now = unix_now();
        let claims = LogoutClaims {
            iss: &self.issuer,
            aud: &delivery.client_id,
            iat: now,
            exp: now + LOGOUT_TOKEN_TTL_SECS,
            jti: uuid::Uuid::new_v4().to_string(),
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
            sub: &delivery.user_id,
            sid: &delivery.session_handle,
        };
        let mut header = Header::new(key.algorithm);
        header.typ = Some(LOGOUT_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid.clone());
        key.signer
            .encode(&header, &claims)
            .map_err(|e| format!("signing failed: {e}"))
    }

    async fn failed(&self, delivery: &LogoutDelivery, why: &str) -> Result<(), StoreError> {
        let settings = &self.settings;
        let now = unix_now_ms();
        let attempts = delivery.attempts.max(0) as u32 + 1;
        if now - delivery.created_at >= settings.backchannel_give_up_secs as i64 * 1000 {
            self.store.remove_logout_delivery(&delivery.id).await?;
            METRICS.backchannel_logout(BackchannelOutcome::GivenUp);
            log::warn!(
                "back-channel logout to client {} given up after {attempts} attempts: {why}",
                delivery.client_id
            );
            let event = AuditEvent::new("backchannel_logout.given_up")
                .client(&delivery.client_id)
                .subject(&delivery.user_id)
                .detail(format!(
                    "session={} attempts={attempts} last_error={why}",
                    delivery.session_handle
                ));
            self.audit.record(event).await;
            return Ok(());
        }
        let backoff = settings
            .backchannel_retry_secs
            .max(1)
            .saturating_mul(1u64 << (attempts - 1).min(30))
            .min(settings.backchannel_retry_max_secs.max(1));
        self.store
            .retry_logout_delivery(&delivery.id, now + backoff as i64 * 1000, why)
            .await?;
        METRICS.backchannel_logout(BackchannelOutcome::Retried);
        Ok(())
    }
}
