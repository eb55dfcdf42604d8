//! Token exchange (RFC 8693) at authd's `/token`: a service trades the token its caller presented
//! for a narrower one addressed to the next service, for the same subject. With delegation the
//! service's own client_credentials token goes along as the actor token, so the issued token's
//! `act` names the service.
//!
//! ```no_run
//! use authd_client::exchange::{ExchangeConfig, ExchangeTarget, PresentedToken, TokenExchanger};
//!
//! # async fn run(presented: PresentedToken) -> Result<(), Box<dyn std::error::Error>> {
//! let exchanger = TokenExchanger::new(
//!     ExchangeConfig::new("http://authd:8080", "items", "secret".into()).delegate(),
//! )?;
//! let target = ExchangeTarget::resource("https://prices.example.com").scope("prices:read");
//! let token = exchanger.exchange(&presented, &target).await?;
//! // Call prices with `Authorization: Bearer {token.access_token().expose_secret()}`.
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::error::Rejection;

/// The `grant_type` of a token exchange (RFC 8693 section 2.1).
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type URI of an access token (RFC 8693 section 3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Longest time an actor token is reused before its expiry: it is renewed once less than this
/// (or half its lifetime, if shorter) remains, so that it never expires on the way to authd.
const ACTOR_RENEWAL_MARGIN: Duration = Duration::from_secs(30);

/// How a service authenticates to authd for exchanges, and whether it delegates.
#[derive(Clone)]
pub struct ExchangeConfig {
    authd_url: String,
    client_id: String,
    client_secret: SecretString,
    delegate: bool,
    actor_scope: Option<String>,
    http_timeout: Duration,
}

impl ExchangeConfig {
    /// Exchanges as the confidential client `client_id` (authenticated with HTTP Basic), as
    /// impersonation (no actor token) until [`delegate`](Self::delegate) is called.
    pub fn new(authd_url: &str, client_id: &str, client_secret: SecretString) -> Self {
        Self {
            authd_url: authd_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            delegate: false,
            actor_scope: None,
            http_timeout: Duration::from_secs(5),
        }
    }

    /// Sends this client's own token (client_credentials, cached until near its expiry) as the
    /// actor token, so that issued tokens carry `act` naming the client (delegation).
    pub fn delegate(mut self) -> Self {
        self.delegate = true;
        self
    }

    /// The `scope` of the client_credentials request for the actor token (default: none, so
    /// authd grants the client's default scopes).
    pub fn actor_scope(mut self, scope: &str) -> Self {
        self.actor_scope = Some(scope.to_owned());
        self
    }

    /// Timeout of each call to authd (default 5 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }
}

// The client secret must never reach a log, so Debug is written by hand.
impl fmt::Debug for ExchangeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeConfig")
            .field("authd_url", &self.authd_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("delegate", &self.delegate)
            .field("actor_scope", &self.actor_scope)
            .finish_non_exhaustive()
    }
}

/// What the issued token is for: `resource` and `audience` (RFC 8693 section 2.1, RFC 8707)
/// and the narrower `scope`.
#[derive(Debug, Clone, Default)]
pub struct ExchangeTarget {
    resource: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
}

impl ExchangeTarget {
    /// A token for the service at resource URI `uri`.
    pub fn resource(uri: &str) -> Self {
        Self {
            resource: Some(uri.to_owned()),
            ..Self::default()
        }
    }

    /// A token for the logical audience `audience`.
    pub fn audience(audience: &str) -> Self {
        Self {
            audience: Some(audience.to_owned()),
            ..Self::default()
        }
    }

    /// Only these scopes (space-delimited); without it authd decides.
    pub fn scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.to_owned());
        self
    }
}

/// The access token a request presented (`Authorization: Bearer` or `DPoP`), kept secret: the
/// subject token to exchange. Extract it beside a `Require<…>`, which verifies it.
pub struct PresentedToken(SecretString);

impl PresentedToken {
    /// The token, for a caller that has another use for it.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl From<SecretString> for PresentedToken {
    fn from(token: SecretString) -> Self {
        Self(token)
    }
}

impl fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedToken([redacted])")
    }
}

impl FromRequest for PresentedToken {
    type Error = Rejection;
    type Future = Ready<Result<Self, Rejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            crate::extract::credentials(req)
                .map(|(_, token)| PresentedToken(SecretString::from(token)))
                .map_err(|error| Rejection::new(error, crate::extract::realm_of(req))),
        )
    }
}

/// An access token authd issued by exchange (RFC 8693 section 2.2.1).
pub struct ExchangedToken {
    access_token: SecretString,
    /// `issued_token_type`: always [`ACCESS_TOKEN_TYPE`] (anything else is refused).
    pub issued_token_type: String,
    /// `token_type`: `Bearer`.
    pub token_type: String,
    /// `expires_in`, seconds.
    pub expires_in: Option<u64>,
    /// `scope`: what the token grants, when authd says.
    pub scope: Option<String>,
}

impl ExchangedToken {
    /// The token, to send as `Authorization: Bearer`.
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }
}

impl fmt::Debug for ExchangedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangedToken")
            .field("access_token", &"[redacted]")
            .field("issued_token_type", &self.issued_token_type)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why no token came back.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// authd refused the exchange with an RFC 6749 section 5.2 error: `invalid_scope` (the
    /// subject token does not allow the scope asked for), `invalid_grant` (a subject token
    /// authd will not exchange for this client), `invalid_target`, `unauthorized_client`, …
    #[error("authd refused the token exchange: {code}{}", describe(.description))]
    Refused {
        /// The HTTP status authd answered with.
        status: u16,
        /// The `error` code.
        code: String,
        /// `error_description`, when authd sent one.
        description: Option<String>,
    },
    /// authd refused the client_credentials request for the actor token: this service's
    /// registration or secret is wrong.
    #[error("authd refused the actor token: {code}{}", describe(.description))]
    ActorRefused {
        /// The `error` code.
        code: String,
        /// `error_description`, when authd sent one.
        description: Option<String>,
    },
    /// authd did not answer, answered with a server error, or sent something unusable.
    #[error("token exchange failed: {0}")]
    Unavailable(String),
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map_or_else(String::new, |d| format!(" ({d})"))
}

impl ExchangeError {
    /// Whether authd objected to the tokens presented rather than to this service's setup or
    /// its own availability: `invalid_request` (RFC 8693 section 2.2.2 reports an invalid or
    /// unacceptable subject or actor token so; `error_description` says which), `invalid_grant`,
    /// `invalid_scope` (the subject token does not allow the scope asked for) and
    /// `invalid_dpop_proof` (the subject token is bound to a key this service does not hold).
    pub fn is_subject_refused(&self) -> bool {
        matches!(self, ExchangeError::Refused { code, .. }
            if matches!(code.as_str(),
                "invalid_request" | "invalid_grant" | "invalid_scope" | "invalid_dpop_proof"))
    }
}

/// A successful `/token` answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    token_type: String,
    #[serde(default)]
    issued_token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

/// An RFC 6749 section 5.2 error answer.
#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The actor token in use, and when to renew it.
struct CachedActorToken {
    token: SecretString,
    renew_at: Instant,
}

/// Performs token exchanges for one service; cheap to clone, share one per process.
#[derive(Clone)]
pub struct TokenExchanger {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    token_url: String,
    config: ExchangeConfig,
    // One client_credentials request at a time; requests arriving meanwhile wait for its token.
    actor_token: tokio::sync::Mutex<Option<CachedActorToken>>,
}

impl TokenExchanger {
    /// Checks `config` and builds the HTTP client; contacts authd only on the first exchange.
    pub fn new(config: ExchangeConfig) -> Result<Self, ConfigError> {
        if !(config.authd_url.starts_with("http://") || config.authd_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "authd URL {:?} must start with http:// or https://",
                config.authd_url
            )));
        }
        if config.client_id.is_empty() || config.client_secret.expose_secret().is_empty() {
            return Err(ConfigError(
                "token exchange needs a client_id and a client secret".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ConfigError(format!("building the HTTP client: {error}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                token_url: format!("{}/token", config.authd_url),
                config,
                actor_token: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Exchanges `subject` (an access token authd issued) for an access token for `target`.
    pub async fn exchange(
        &self,
        subject: &PresentedToken,
        target: &ExchangeTarget,
    ) -> Result<ExchangedToken, ExchangeError> {
        let actor = match self.inner.config.delegate {
            true => Some(self.actor_token().await?),
            false => None,
        };
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("subject_token", subject.0.expose_secret()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
        ];
        if let Some(actor) = &actor {
            form.push(("actor_token", actor.expose_secret()));
            form.push(("actor_token_type", ACCESS_TOKEN_TYPE));
        }
        let optional = [
            ("resource", &target.resource),
            ("audience", &target.audience),
            ("scope", &target.scope),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                form.push((name, value));
            }
        }
        let token = match self.post(&form).await? {
            Ok(token) => token,
            Err((status, refusal)) => {
                if actor.is_some() && refusal.error == "invalid_request" {
                    // Perhaps our cached actor token was revoked: the next exchange gets a new one.
                    self.inner.actor_token.lock().await.take();
                }
                return Err(ExchangeError::Refused {
                    status,
                    code: refusal.error,
                    description: refusal.error_description,
                });
            }
        };
        // RFC 8693 section 2.2.1: we asked for an access token and can only use a bearer one.
        let issued_token_type = token.issued_token_type.unwrap_or_default();
        if issued_token_type != ACCESS_TOKEN_TYPE
            || !token.token_type.eq_ignore_ascii_case("bearer")
        {
            return Err(ExchangeError::Unavailable(format!(
                "authd issued a {issued_token_type:?} of type {:?}, not a bearer access token",
                token.token_type
            )));
        }
        Ok(ExchangedToken {
            access_token: token.access_token,
            issued_token_type,
            token_type: token.token_type,
            expires_in: token.expires_in,
            scope: token.scope,
        })
    }

    /// This client's own access token, from the cache or a client_credentials request.
    async fn actor_token(&self) -> Result<SecretString, ExchangeError> {
        let mut cached = self.inner.actor_token.lock().await;
        if let Some(current) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(current.token.clone());
        }
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.inner.config.actor_scope {
            form.push(("scope", scope));
        }
        let requested_at = Instant::now();
        let token = self.post(&form).await?.map_err(|(_, refusal)| {
            log::error!(
                "authd refused client_credentials for {}: {}; check its secret and grants",
                self.inner.config.client_id,
                refusal.error
            );
            ExchangeError::ActorRefused {
                code: refusal.error,
                description: refusal.error_description,
            }
        })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(0));
        let margin = ACTOR_RENEWAL_MARGIN.min(lifetime / 2);
        *cached = Some(CachedActorToken {
            token: token.access_token.clone(),
            renew_at: requested_at + lifetime - margin,
        });
        Ok(token.access_token)
    }

    /// POSTs `form` to `/token` as this client: the token, authd's refusal, or why neither.
    async fn post(
        &self,
        form: &[(&str, &str)],
    ) -> Result<Result<TokenResponse, (u16, ErrorResponse)>, ExchangeError> {
        let config = &self.inner.config;
        let response = self
            .inner
            .http
            .post(&self.inner.token_url)
            .basic_auth(
                &config.client_id,
                Some(config.client_secret.expose_secret()),
            )
            .form(form)
            .send()
            .await
            .map_err(|error| {
                log::error!("token request to {} failed: {error}", self.inner.token_url);
                ExchangeError::Unavailable("authd is unreachable".into())
            })?;
        let status = response.status();
        if status == StatusCode::OK {
            return response.json().await.map(Ok).map_err(|error| {
                log::error!("authd sent an unreadable token response: {error}");
                ExchangeError::Unavailable("authd sent an unreadable token response".into())
            });
        }
        if status.is_client_error()
            && let Ok(refusal) = response.json::<ErrorResponse>().await
        {
            return Ok(Err((status.as_u16(), refusal)));
        }
        log::error!("authd answered a token request with {status}");
        Err(ExchangeError::Unavailable(format!(
            "authd answered {}",
            status.as_u16()
        )))
    }
}

impl fmt::Debug for TokenExchanger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchanger")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_secret_and_the_tokens() {
        let config = ExchangeConfig::new("http://authd", "items", "s3cr3t-value".into());
        let exchanger = TokenExchanger::new(config.clone().delegate()).unwrap();
        let presented = PresentedToken::from(SecretString::from("user-token-value"));
        let issued = ExchangedToken {
            access_token: "issued-token-value".into(),
            issued_token_type: ACCESS_TOKEN_TYPE.into(),
            token_type: "Bearer".into(),
            expires_in: Some(60),
            scope: None,
        };
        let shown = format!("{config:?} {exchanger:?} {presented:?} {issued:?}");
        for secret in ["s3cr3t-value", "user-token-value", "issued-token-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn a_client_without_credentials_or_a_plain_authd_url_is_refused() {
        assert!(TokenExchanger::new(ExchangeConfig::new("http://authd", "", "s".into())).is_err());
        assert!(
            TokenExchanger::new(ExchangeConfig::new("http://authd", "items", "".into())).is_err()
        );
        assert!(
            TokenExchanger::new(ExchangeConfig::new("authd:8080", "items", "s".into())).is_err()
        );
    }

    #[test]
    fn only_refusals_of_the_subject_token_count_as_the_callers_fault() {
        let refused = |code: &str| ExchangeError::Refused {
            status: 400,
            code: code.into(),
            description: None,
        };
        for subject in [
            "invalid_request",
            "invalid_grant",
            "invalid_scope",
            "invalid_dpop_proof",
        ] {
            assert!(refused(subject).is_subject_refused(), "{subject}");
        }
        for setup in [
            "invalid_client",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_target",
        ] {
            assert!(!refused(setup).is_subject_refused(), "{setup}");
        }
        assert!(!ExchangeError::Unavailable("down".into()).is_subject_refused());
    }
}
