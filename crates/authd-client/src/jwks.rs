//! Local mode: verify access tokens (RFC 9068) against authd's JWKS, kept by `kid`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::actor::Actor;
use crate::caller::Caller;
use crate::config::Config;
use crate::dpop::Confirmation;
use crate::error::AuthError;

/// Longest token we try to parse (authd's own limit).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The claims of an authd access token that a resource server uses.
#[derive(Debug, Deserialize)]
struct AccessClaims {
    sub: String,
    client_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    exp: i64,
    iat: i64,
    #[serde(default)]
    jti: Option<String>,
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

/// One published key, with the algorithm it is pinned to.
struct VerifyingKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct KeyState {
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Verifies tokens with keys fetched from authd's JWKS.
pub struct JwksVerifier {
    http: reqwest::Client,
    url: String,
    issuer: String,
    audience: String,
    leeway: u64,
    refetch_interval: Duration,
    max_age: Duration,
    max_lifetime: i64,
    state: RwLock<KeyState>,
    // One fetch at a time; requests that miss meanwhile wait and then reuse its result.
    fetching: tokio::sync::Mutex<()>,
}

impl JwksVerifier {
    /// Builds the verifier for `config`; keys are fetched on first use.
    pub fn new(config: &Config, http: reqwest::Client) -> Self {
        Self {
            http,
            url: format!("{}/.well-known/jwks.json", config.authd_url),
            issuer: config.expected_issuer().to_owned(),
            audience: config.expected_audience().to_owned(),
            leeway: config.leeway_secs,
            refetch_interval: config.jwks_refetch_interval,
            max_age: config.jwks_max_age,
            max_lifetime: i64::try_from(config.max_token_lifetime.as_secs()).unwrap_or(i64::MAX),
            state: RwLock::new(KeyState::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The caller behind `token`, if its signature and claims verify.
    pub async fn check(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        if token.len() > MAX_TOKEN_BYTES || token.bytes().filter(|b| *b == b'.').count() != 2 {
            return Err(AuthError::InvalidToken("malformed"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken("malformed"))?;
        // RFC 9068 section 4: only tokens typed as access tokens are accepted.
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(AuthError::InvalidToken("not an access token"));
        }
        let kid = header
            .kid
            .ok_or(AuthError::InvalidToken("signed by an unknown key"))?;
        let key = self.key(&kid).await?;
        // RFC 8725 section 3.1: the key decides the algorithm, never the token header.
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature
                | jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                    AuthError::InvalidToken("expired or not yet valid")
                }
                _ => AuthError::InvalidToken("invalid"),
            })?
            .claims;
        // A leaked key must not mint tokens that outlive its withdrawal from the JWKS.
        if claims.exp.saturating_sub(claims.iat) > self.max_lifetime {
            return Err(AuthError::InvalidToken("lifetime too long"));
        }
        // A `cnf` we cannot check (say, an mTLS binding) must not pass as a bearer token.
        let dpop_jkt = match claims.cnf {
            Some(Confirmation { jkt: None }) => {
                return Err(AuthError::InvalidToken("bound by an unsupported method"));
            }
            cnf => cnf.and_then(|cnf| cnf.jkt),
        };
        let actor = match claims.act {
            Some(actor) => Some(
                actor
                    .within_depth()
                    .ok_or(AuthError::InvalidToken("too many actors"))?,
            ),
            None => None,
        };
        Ok(Arc::new(Caller {
            subject: claims.sub,
            client_id: claims.client_id,
            username: claims.username,
            scopes: Caller::parse_scopes(&claims.scope),
            roles: claims.roles.unwrap_or_default(),
            expires_at: claims.exp,
            token_id: claims.jti,
            acr: claims.acr,
            amr: claims.amr.unwrap_or_default(),
            auth_time: claims.auth_time,
            dpop_jkt,
            actor,
        }))
    }

    /// The key for `kid`, fetching the JWKS when it is unknown or the set is old. A key authd
    /// withdrew (`keys revoke`) is refused once the set is refetched, within `jwks_max_age`.
    async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, AuthError> {
        let (known, stale) = self.lookup(kid);
        if let (Some(key), false) = (&known, stale) {
            return Ok(key.clone());
        }
        if let Err(error) = self.refresh().await {
            // authd is down but the key is known: keep verifying with what we have.
            return known.ok_or(error);
        }
        self.lookup(kid)
            .0
            .ok_or(AuthError::InvalidToken("signed by an unknown key"))
    }

    fn lookup(&self, kid: &str) -> (Option<Arc<VerifyingKey>>, bool) {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let stale = state
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.max_age);
        (state.keys.get(kid).cloned(), stale)
    }

    /// Fetches the JWKS, at most once per refetch interval.
    async fn refresh(&self) -> Result<(), AuthError> {
        let _guard = self.fetching.lock().await;
        let never_fetched = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if state
                .last_attempt
                .is_some_and(|at| at.elapsed() < self.refetch_interval)
            {
                // Rate limit: a stream of unknown kids must not turn into a stream of fetches.
                return if state.fetched_at.is_none() {
                    Err(AuthError::Unavailable)
                } else {
                    Ok(())
                };
            }
            state.fetched_at.is_none()
        };
        self.state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .last_attempt = Some(Instant::now());
        let keys = self.fetch().await.inspect_err(|_| {
            if never_fetched {
                log::error!(
                    "no JWKS from {} yet; refusing tokens until it answers",
                    self.url
                );
            }
        })?;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.keys = keys;
        state.fetched_at = Some(Instant::now());
        Ok(())
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<VerifyingKey>>, AuthError> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|error| {
                log::error!("fetching {} failed: {error}", self.url);
                AuthError::Unavailable
            })?;
        let set: JwkSet = response.json().await.map_err(|error| {
            log::error!("{} is not a JWK set: {error}", self.url);
            AuthError::Unavailable
        })?;
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                if jwk
                    .common
                    .public_key_use
                    .as_ref()
                    .is_some_and(|u| *u != PublicKeyUse::Signature)
                {
                    return None;
                }
                // A symmetric key in a JWKS could let anyone holding it mint tokens: never use one.
                if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
                    return None;
                }
                let algorithm = signing_algorithm(jwk.common.key_algorithm?)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, Arc::new(VerifyingKey { algorithm, key })))
            })
            .collect();
        log::info!("fetched {} signing key(s) from {}", keys.len(), self.url);
        Ok(keys)
    }
}

/// The asymmetric signature algorithm a JWK is pinned to, if we support it.
fn signing_algorithm(algorithm: KeyAlgorithm) -> Option<Algorithm> {
    Some(match algorithm {
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_signature_algorithms_are_accepted() {
        assert_eq!(
            signing_algorithm(KeyAlgorithm::EdDSA),
            Some(Algorithm::EdDSA)
        );
        assert_eq!(
            signing_algorithm(KeyAlgorithm::ES256),
            Some(Algorithm::ES256)
        );
        assert_eq!(signing_algorithm(KeyAlgorithm::HS256), None);
        assert_eq!(signing_algorithm(KeyAlgorithm::RSA_OAEP), None);
    }
}
