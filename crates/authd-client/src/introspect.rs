//! Introspection mode: ask authd's `/introspect` (RFC 7662), through a short cache.

use std::sync::Arc;
use std::time::Instant;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::actor::Actor;
use crate::cache::{IntrospectionCache, token_key};
use crate::caller::Caller;
use crate::config::Config;
use crate::dpop::Confirmation;
use crate::error::AuthError;

/// The RFC 7662 section 2.2 fields authd sends.
#[derive(Debug, Deserialize)]
struct IntrospectionResponse {
    active: bool,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    acr: Option<String>,
    #[serde(default)]
    amr: Option<Vec<String>>,
    #[serde(default)]
    auth_time: Option<i64>,
    #[serde(default)]
    cnf: Option<Confirmation>,
    #[serde(default)]
    act: Option<Actor>,
}

/// RFC 7662 allows `aud` as one string or an array.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// Checks tokens by asking authd.
pub struct Introspector {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: SecretString,
    issuer: String,
    audience: String,
    cache: IntrospectionCache,
}

impl Introspector {
    /// Builds the introspector for `config`, which must be in introspect mode.
    pub fn new(config: &Config, http: reqwest::Client) -> Self {
        Self {
            http,
            url: format!("{}/introspect", config.authd_url),
            client_id: config.client_id.clone(),
            client_secret: config
                .client_secret
                .clone()
                .unwrap_or_else(|| SecretString::from(String::new())),
            issuer: config.expected_issuer().to_owned(),
            audience: config.expected_audience().to_owned(),
            cache: IntrospectionCache::new(config.cache_ttl, config.cache_capacity),
        }
    }

    /// The caller behind `token`, from the cache or from authd.
    pub async fn check(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        let key = token_key(token);
        let answer = match self.cache.get(&key, Instant::now()) {
            Some(answer) => answer,
            None => {
                let answer = self.ask_authd(token).await?;
                self.cache
                    .insert(key, answer.clone(), Instant::now(), unix_now_ms());
                answer
            }
        };
        match answer {
            // The cache bounds entries by `exp`; this also covers a clock that jumped.
            Some(caller) if caller.expires_at * 1000 > unix_now_ms() => Ok(caller),
            _ => Err(AuthError::InvalidToken("invalid, expired or revoked")),
        }
    }

    async fn ask_authd(&self, token: &str) -> Result<Option<Arc<Caller>>, AuthError> {
        let response = self
            .http
            .post(&self.url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|error| {
                log::error!("introspection request to {} failed: {error}", self.url);
                AuthError::Unavailable
            })?;
        match response.status() {
            StatusCode::OK => {}
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                log::error!(
                    "authd refused introspection by client {} ({status}): check its secret and \
                     its introspect scope",
                    self.client_id
                );
                return Err(AuthError::Misconfigured);
            }
            status => {
                log::error!("authd answered introspection with {status}");
                return Err(AuthError::Unavailable);
            }
        }
        let body: IntrospectionResponse = response.json().await.map_err(|error| {
            log::error!("authd sent an unreadable introspection answer: {error}");
            AuthError::Unavailable
        })?;
        Ok(self.accept(body).map(Arc::new))
    }

    /// The caller, if the answer is active and describes an access token for us.
    fn accept(&self, body: IntrospectionResponse) -> Option<Caller> {
        if !body.active {
            return None;
        }
        // A refresh token introspects as active too; it must not open a resource server.
        if body
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer") && !t.eq_ignore_ascii_case("dpop"))
        {
            return None;
        }
        // A binding we cannot check (no jkt, say mTLS) must not pass as a bearer token; nor
        // may a DPoP token whose key authd did not name.
        let dpop_jkt = match body.cnf {
            Some(Confirmation { jkt: None }) => return None,
            cnf => cnf.and_then(|cnf| cnf.jkt),
        };
        if dpop_jkt.is_none()
            && body
                .token_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("dpop"))
        {
            return None;
        }
        if body.iss.as_deref().is_some_and(|iss| iss != self.issuer) {
            log::warn!("introspected token has an unexpected issuer");
            return None;
        }
        if body
            .aud
            .as_ref()
            .is_some_and(|aud| !aud.contains(&self.audience))
        {
            log::warn!("introspected token is for another audience");
            return None;
        }
        let actor = match body.act {
            Some(actor) => Some(actor.within_depth()?),
            None => None,
        };
        let client_id = body.client_id?;
        Some(Caller {
            subject: body.sub.unwrap_or_else(|| client_id.clone()),
            client_id,
            username: body.username,
            scopes: Caller::parse_scopes(body.scope.as_deref().unwrap_or_default()),
            roles: body.roles.unwrap_or_default(),
            expires_at: body.exp?,
            token_id: body.jti,
            acr: body.acr,
            amr: body.amr.unwrap_or_default(),
            auth_time: body.auth_time,
            dpop_jkt,
            actor,
        })
    }
}

/// Wall clock, Unix milliseconds.
pub(crate) fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn introspector() -> Introspector {
        let config = Config::introspect("http://authd", "items", "s".into()).issuer("http://iss");
        Introspector::new(&config, reqwest::Client::new())
    }

    fn active(extra: serde_json::Value) -> IntrospectionResponse {
        let mut body = serde_json::json!({
            "active": true, "scope": "items:read", "client_id": "public", "username": "demo",
            "token_type": "Bearer", "exp": 1_900_000_000, "sub": "u1", "aud": "http://iss",
            "iss": "http://iss", "jti": "j1", "roles": ["demo"]
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn an_active_access_token_for_us_becomes_a_caller() {
        let caller = introspector()
            .accept(active(serde_json::json!({})))
            .unwrap();
        assert_eq!(caller.username.as_deref(), Some("demo"));
        assert_eq!(caller.scopes, ["items:read"]);
        assert_eq!(caller.roles, ["demo"]);
        assert_eq!(caller.expires_at, 1_900_000_000);
        assert_eq!((caller.acr, caller.auth_time), (None, None));
        let caller = introspector()
            .accept(active(serde_json::json!({
                "acr": "urn:authd:acr:mfa", "amr": ["pwd", "otp", "mfa"], "auth_time": 1_800_000_000
            })))
            .unwrap();
        assert_eq!(caller.acr.as_deref(), Some("urn:authd:acr:mfa"));
        assert_eq!(caller.amr, ["pwd", "otp", "mfa"]);
        assert_eq!(caller.auth_time, Some(1_800_000_000));
    }

    #[test]
    fn a_dpop_answer_carries_its_key_thumbprint() {
        let caller = introspector()
            .accept(active(
                serde_json::json!({"token_type": "DPoP", "cnf": {"jkt": "abc"}}),
            ))
            .unwrap();
        assert_eq!(caller.dpop_jkt.as_deref(), Some("abc"));
        for unverifiable in [
            serde_json::json!({"token_type": "DPoP"}),
            serde_json::json!({"cnf": {"x5t#S256": "abc"}}),
        ] {
            assert!(
                introspector()
                    .accept(active(unverifiable.clone()))
                    .is_none(),
                "{unverifiable}"
            );
        }
    }

    #[test]
    fn refresh_tokens_other_issuers_and_audiences_are_refused() {
        let introspector = introspector();
        for extra in [
            serde_json::json!({"token_type": "refresh_token"}),
            serde_json::json!({"iss": "http://evil"}),
            serde_json::json!({"aud": ["http://other"]}),
            serde_json::json!({"exp": null}),
        ] {
            assert!(
                introspector.accept(active(extra.clone())).is_none(),
                "{extra}"
            );
        }
        assert!(
            introspector
                .accept(active(serde_json::json!({"aud": ["x", "http://iss"]})))
                .is_some()
        );
    }
}
