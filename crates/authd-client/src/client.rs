//! The configured client: one per service, shared by every worker through `app_data`.

use std::sync::Arc;

use crate::caller::Caller;
use crate::config::{Config, ConfigError, Mode};
use crate::dpop::DpopVerifier;
use crate::error::{AuthError, Scheme};
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
    dpop: DpopVerifier,
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
                dpop: DpopVerifier::new(&config),
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

    /// Checks that `caller`'s token came the way its binding demands (RFC 9449 section 7.1): a
    /// DPoP-bound token with the `DPoP` scheme and a valid proof for `req`, an unbound one as a
    /// bearer token.
    pub(crate) fn check_binding(
        &self,
        req: &actix_web::HttpRequest,
        scheme: Scheme,
        token: &str,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        match (&caller.dpop_jkt, scheme) {
            (None, Scheme::Bearer) => Ok(()),
            (None, Scheme::Dpop) => Err(AuthError::InvalidToken(
                "not bound to a key; present it as a bearer token",
            )),
            (Some(_), Scheme::Bearer) => Err(AuthError::DpopRequired),
            (Some(jkt), Scheme::Dpop) => self.inner.dpop.verify(req, token, jkt),
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
