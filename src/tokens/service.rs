//! Issues and verifies access tokens.

use std::sync::Arc;

use jsonwebtoken::Validation;

use super::claims::{
    AccessClaims, Actor, Audience, Authentication, Confirmation, TOKEN_TYPE_HEADER,
};
use super::keyring::KeyManager;
use crate::clock::{MAX_CLOCK_SKEW_SECS, unix_now};
use crate::domain::ScopeSet;
use crate::mfa::acr_of;

/// Longest token authd will try to parse; anything longer is not one of ours.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// `tokens.max_lifetime_secs` when the service is built without one.
const DEFAULT_MAX_LIFETIME_SECS: i64 = 86_400;

/// Whether a token could be a compact JWS (three dot-separated parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Why a token was not accepted. Callers treat every variant alike (inactive / 401).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWT, wrong `typ`, no `kid`, bad signature or claims.
    #[error("token is invalid: {0}")]
    Invalid(&'static str),
    /// Its `kid` names no key this instance holds (revoked, expired, or not loaded yet).
    #[error("token is invalid: unknown kid")]
    UnknownKey,
    /// Signature fine, but expired or not yet valid.
    #[error("token is expired or not yet valid")]
    Expired,
}

/// A token whose signature and claims verified, and the key that signed it.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The `kid` of the signing key: the token lives no longer than that key verifies.
    pub kid: String,
    /// The verified claims.
    pub claims: AccessClaims,
}

/// A freshly signed access token.
#[derive(Debug)]
pub struct IssuedAccessToken {
    /// The compact JWS.
    pub token: String,
    /// Its claims.
    pub claims: AccessClaims,
}

/// Who a token is for.
#[derive(Debug)]
pub enum TokenSubject<'a> {
    /// A user, through a client.
    User {
        /// User id.
        id: &'a str,
        /// Username.
        username: &'a str,
        /// Roles at issuance.
        roles: &'a [String],
        /// The user's token generation.
        generation: i64,
        /// The browser session behind it, when it ends with that session.
        session: Option<&'a str>,
        /// The sign-in behind it (`amr`, `acr`, `auth_time`); `None` only for refresh families
        /// stored before sign-ins were recorded with them.
        authentication: Option<Authentication<'a>>,
    },
    /// A client acting for itself.
    Client,
}

/// What a token is issued for: the client, the scope and the audience.
#[derive(Debug)]
pub struct Grant<'a> {
    /// The client it is issued to.
    pub client_id: &'a str,
    /// That client's registration.
    pub client_registration: &'a str,
    /// Granted scopes.
    pub scope: &'a ScopeSet,
    /// `aud`.
    pub audience: Audience,
    /// The DPoP key (thumbprint) it is bound to (RFC 9449 section 6.1), if any.
    pub jkt: Option<&'a str>,
}

/// Signs access tokens with the active key and verifies them with any published key.
pub struct TokenService {
    keys: Arc<KeyManager>,
    issuer: String,
    audience: String,
    access_ttl: i64,
    leeway: u64,
    max_lifetime: i64,
    builtin_client_id: String,
}

impl TokenService {
    /// Builds the service.
    pub fn new(
        keys: Arc<KeyManager>,
        issuer: String,
        audience: String,
        access_ttl_secs: u64,
        leeway_secs: u64,
        builtin_client_id: String,
    ) -> Self {
        Self {
            keys,
            issuer,
            audience,
            access_ttl: access_ttl_secs as i64,
            leeway: leeway_secs,
            max_lifetime: DEFAULT_MAX_LIFETIME_SECS,
            builtin_client_id,
        }
    }

    /// Refuses tokens whose `exp - iat` exceeds `seconds` (`tokens.max_lifetime_secs`).
    pub fn with_max_lifetime(mut self, seconds: u64) -> Self {
        self.max_lifetime = i64::try_from(seconds).unwrap_or(i64::MAX);
        self
    }

    /// The built-in public client, which lives in configuration rather than the database.
    pub fn builtin_client_id(&self) -> &str {
        &self.builtin_client_id
    }

    /// The `aud` of tokens asked for no resource (`tokens.audience`): authd's own APIs accept
    /// only tokens that carry it.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The `iss` of tokens and metadata.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Access token lifetime, seconds.
    pub fn access_ttl(&self) -> i64 {
        self.access_ttl
    }

    /// The key manager.
    pub fn keys(&self) -> &Arc<KeyManager> {
        &self.keys
    }

    /// Signs a token for `subject` issued to `client_id` (registration `client_registration`)
    /// with `scope`.
    pub fn issue(
        &self,
        subject: TokenSubject<'_>,
        client_id: &str,
        client_registration: &str,
        scope: &ScopeSet,
        now: i64,
    ) -> anyhow::Result<IssuedAccessToken> {
        let jti = uuid::Uuid::new_v4().to_string();
        self.issue_with_jti(subject, client_id, client_registration, scope, now, jti)
    }

    /// The `exp` of a token issued at `now`.
    pub fn expiry_at(&self, now: i64) -> i64 {
        now + self.access_ttl
    }

    /// Like `issue`, with a `jti` chosen beforehand (recorded before the token is signed).
    pub fn issue_with_jti(
        &self,
        subject: TokenSubject<'_>,
        client_id: &str,
        client_registration: &str,
        scope: &ScopeSet,
        now: i64,
        jti: String,
    ) -> anyhow::Result<IssuedAccessToken> {
        self.issue_bound(
            subject,
            client_id,
            client_registration,
            scope,
            now,
            Some(jti),
            None,
        )
    }

    /// Like `issue_with_jti` (a fresh `jti` when `None`), bound to the DPoP key whose
    /// thumbprint is `jkt` when one is given (RFC 9449 section 6.1).
    #[allow(clippy::too_many_arguments)] // the token's parts, each of its own kind
    pub fn issue_bound(
        &self,
        subject: TokenSubject<'_>,
        client_id: &str,
        client_registration: &str,
        scope: &ScopeSet,
        now: i64,
        jti: Option<String>,
        jkt: Option<&str>,
    ) -> anyhow::Result<IssuedAccessToken> {
        let grant = Grant {
            client_id,
            client_registration,
            scope,
            audience: Audience::One(self.audience.clone()),
            jkt,
        };
        let jti = jti.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.issue_for(subject, grant, now, jti)
    }

    /// Signs a token for `subject` as `grant` says (its audience and DPoP binding included).
    pub fn issue_for(
        &self,
        subject: TokenSubject<'_>,
        grant: Grant<'_>,
        now: i64,
        jti: String,
    ) -> anyhow::Result<IssuedAccessToken> {
        self.issue_acting(subject, grant, None, now, jti)
    }

    /// Like `issue_for`, for a token that `act` uses on the subject's behalf (RFC 8693
    /// section 4.1); `None` for one the client uses as the subject itself.
    pub fn issue_acting(
        &self,
        subject: TokenSubject<'_>,
        grant: Grant<'_>,
        act: Option<Actor>,
        now: i64,
        jti: String,
    ) -> anyhow::Result<IssuedAccessToken> {
        let Grant {
            client_id,
            client_registration,
            scope,
            audience,
            jkt,
        } = grant;
        let (sub, username, roles, generation, sid, authentication) = match subject {
            TokenSubject::User {
                id,
                username,
                roles,
                generation,
                session,
                authentication,
            } => (
                id.to_owned(),
                Some(username.to_owned()),
                Some(roles.to_vec()),
                Some(generation),
                session.map(str::to_owned),
                authentication,
            ),
            TokenSubject::Client => (client_id.to_owned(), None, None, None, None, None),
        };
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub,
            aud: audience,
            exp: self.expiry_at(now),
            iat: now,
            // An instance or resource server whose clock lags ours still accepts the token.
            nbf: now - MAX_CLOCK_SKEW_SECS,
            jti,
            client_id: client_id.to_owned(),
            client_registration: client_registration.to_owned(),
            scope: scope.to_string(),
            username,
            roles,
            generation,
            sid,
            amr: authentication.map(|a| a.amr.split_whitespace().map(str::to_owned).collect()),
            acr: authentication.map(|a| acr_of(a.amr).to_owned()),
            auth_time: authentication.map(|a| a.auth_time),
            cnf: jkt.map(|jkt| Confirmation {
                jkt: jkt.to_owned(),
            }),
            act,
            may_act: None,
        };
        let token = self.keys.with_signing_key(|key| {
            let key = key.ok_or_else(|| anyhow::anyhow!("no signing key is available"))?;
            Ok::<_, anyhow::Error>(key.signer.encode_with_header(&key.access_header, &claims)?)
        })?;
        Ok(IssuedAccessToken { token, claims })
    }

    /// Verifies signature, `typ`, `iss`, `aud`, `exp`, `nbf`, `iat` and the lifetime; the
    /// algorithm is the key's.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.verify_token(token).map(|verified| verified.claims)
    }

    /// Like `verify`, keeping the `kid` so that a cached result can be tied to its key.
    pub fn verify_token(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        self.verify_signature(token, true)
    }

    /// Like `verify_token`; a token signed with a key this instance has not loaded yet (another
    /// instance's newly activated key) makes it re-read its keys once and try again.
    pub async fn verify_token_reloading(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        match self.verify_token(token) {
            Err(TokenError::UnknownKey) if self.keys.reload_after_miss().await => {
                self.verify_token(token)
            }
            other => other,
        }
    }

    /// Verifies everything but expiry (for revocation of a token that may have just expired).
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.verify_signature(token, false)
            .map(|verified| verified.claims)
    }

    /// Whether tokens signed by `kid` still verify: false once the key is revoked, deleted or
    /// expired (as seen by this instance's last key reload).
    pub fn verifies_with(&self, kid: &str) -> bool {
        self.keys.find(kid).is_some()
    }

    fn verify_signature(&self, token: &str, check_time: bool) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES || !looks_like_jwt(token) {
            return Err(TokenError::Invalid("not a compact JWS"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("bad header"))?;
        // RFC 9068 section 4: reject anything not typed as an access token.
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case(TOKEN_TYPE_HEADER)
                || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenError::Invalid("typ is not at+jwt"));
        }
        let kid = header.kid.ok_or(TokenError::Invalid("no kid"))?;
        let key = self.keys.find(&kid).ok_or(TokenError::UnknownKey)?;
        // RFC 8725 section 3.1: the key decides the algorithm, never the token.
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = self.leeway;
        validation.validate_exp = check_time;
        // `nbf` and `iat` are checked below, with the clock skew between instances allowed.
        validation.validate_nbf = false;
        validation.set_issuer(&[&self.issuer]);
        // Tokens for resources (RFC 8707) verify here too, for introspection; authd's own APIs
        // check for `tokens.audience` (`auth::bearer`).
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let claims = match jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation) {
            Ok(data) => data.claims,
            Err(error) => {
                return Err(match error.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature
                    | jsonwebtoken::errors::ErrorKind::ImmatureSignature => TokenError::Expired,
                    _ => TokenError::Invalid("signature or claims rejected"),
                });
            }
        };
        // A leaked key must not mint tokens that outlive every rotation and revocation.
        if claims.exp.saturating_sub(claims.iat) > self.max_lifetime {
            return Err(TokenError::Invalid(
                "lifetime exceeds tokens.max_lifetime_secs",
            ));
        }
        // Another instance's clock may run up to MAX_CLOCK_SKEW_SECS ahead of ours.
        let latest = unix_now()
            .saturating_add(self.leeway as i64)
            .saturating_add(MAX_CLOCK_SKEW_SECS);
        if claims.iat > latest {
            return Err(TokenError::Invalid("issued in the future"));
        }
        if check_time && claims.nbf > latest {
            return Err(TokenError::Expired);
        }
        Ok(VerifiedToken { kid, claims })
    }
}
