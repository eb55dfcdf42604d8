//! The configured client: one per service, shared by every worker through `app_data`.

use std::sync::Arc;

use crate::caller::Caller;
use crate::config::{Config, ConfigError, Mode};
use crate::error::AuthError;
use crate::introspect::Introspector;
use crate::jwks::JwksVerifier;

enum Checker {
    Introspect(Introspector),
    Local(JwksVerifier),
}

struct Inner {
    config: Config,
    realm: Arc<str>,
    checker: Checker,
}

/// Decides whether bearer tokens are live; cheap to clone. Register it once with
/// `App::app_data(web::Data::new(client))` (or `app_data(client)`), then use the extractors.
#[derive(Clone)]
pub struct AuthdClient {
    inner: Arc<Inner>,
}

impl AuthdClient {
    /// Checks `config` and builds the HTTP client; contacts authd only when a token arrives.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ConfigError(format!("building the HTTP client: {error}")))?;
        let checker = match config.mode {
            Mode::Introspect => Checker::Introspect(Introspector::new(&config, http)),
            Mode::Local => Checker::Local(JwksVerifier::new(&config, http)),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                realm: Arc::from(config.realm.as_str()),
                config,
                checker,
            }),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The caller behind an access token, or why it is refused.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        match &self.inner.checker {
            Checker::Introspect(introspector) => introspector.check(token).await,
            Checker::Local(verifier) => verifier.check(token).await,
        }
    }

    pub(crate) fn realm(&self) -> Arc<str> {
        self.inner.realm.clone()
    }
}

impl std::fmt::Debug for AuthdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthdClient")
            .field("config", &self.inner.config)
            .finish()
    }
}
