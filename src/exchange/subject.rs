//! The subject token: an authd access token or id_token, checked as introspection checks tokens,
//! and what it says about the user.

use jsonwebtoken::Validation;
use serde::Deserialize;

use super::{PresentedToken, TokenType, refused};
use crate::clock::MAX_CLOCK_SKEW_SECS;
use crate::credential_cache::CredentialCache;
use crate::domain::ScopeSet;
use crate::error::OAuthError;
use crate::inspection::{LiveToken, check_access_token, session_ended};
use crate::store::{Store, User};
use crate::tokens::{AccessClaims, Actor, Audience, MayAct, TokenService, looks_like_jwt};

/// Longest id_token parsed (access tokens have their own limit).
const MAX_ID_TOKEN_BYTES: usize = 8 * 1024;

/// What a subject or actor token is checked against.
#[derive(Clone, Copy)]
pub struct TokenChecks<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Verifies signatures.
    pub tokens: &'a TokenService,
    /// Revocations, users and verified tokens.
    pub cache: &'a CredentialCache,
    /// Now, by the clock id_tokens expire by.
    pub now: i64,
    /// Clock leeway for id_token expiry (`tokens.leeway_secs`).
    pub leeway: i64,
}

/// Which kind of token the subject token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectKind {
    /// An access token carrying `scope`.
    AccessToken {
        /// Its scopes.
        scope: ScopeSet,
        /// Its `jti`.
        jti: String,
    },
    /// An id_token: it proves a sign-in at its client and carries no scopes.
    IdToken,
}

/// A live subject token.
#[derive(Debug)]
pub struct Subject {
    /// The user it is for (enabled, at the token's generation).
    pub user: User,
    /// Access token or id_token.
    pub kind: SubjectKind,
    /// The client it was issued to (an id_token's `aud`).
    pub client_id: String,
    /// Its audience (an id_token's: its client).
    pub audience: Audience,
    /// The browser session it ends with.
    pub sid: Option<String>,
    /// How the user signed in, space-separated RFC 8176 values; empty when not recorded.
    pub amr: String,
    /// When, if recorded.
    pub auth_time: Option<i64>,
    /// Who already acts for the user through it.
    pub act: Option<Actor>,
    /// Who may act for the user (RFC 8693 section 4.4).
    pub may_act: Option<MayAct>,
    /// The DPoP key it is bound to.
    pub jkt: Option<String>,
    /// When it was issued.
    pub issued_at: i64,
}

/// Checks the subject token as the kind it claims to be; anything not live is `invalid_request`.
pub async fn verify_subject(
    presented: PresentedToken<'_>,
    checks: TokenChecks<'_>,
) -> Result<Subject, OAuthError> {
    match kind_of(presented) {
        Some(TokenType::AccessToken) => verify_access_subject(presented.token, checks).await,
        Some(TokenType::IdToken) => verify_id_token_subject(presented.token, checks).await,
        _ => Err(refused(
            "subject_token is not an active authd access token or id_token",
        )),
    }
}

/// The kind a token is: as declared, or for `jwt` as its `typ` header says (RFC 9068 section
/// 2.1 types access tokens `at+jwt`; authd's id_tokens are `JWT`).
pub(super) fn kind_of(presented: PresentedToken<'_>) -> Option<TokenType> {
    match presented.kind {
        TokenType::Jwt => {
            if !looks_like_jwt(presented.token) {
                return None;
            }
            let header = jsonwebtoken::decode_header(presented.token).ok()?;
            match header.typ.as_deref() {
                Some(typ)
                    if typ.eq_ignore_ascii_case("at+jwt")
                        || typ.eq_ignore_ascii_case("application/at+jwt") =>
                {
                    Some(TokenType::AccessToken)
                }
                Some(typ) if typ.eq_ignore_ascii_case("JWT") => Some(TokenType::IdToken),
                _ => None,
            }
        }
        declared => Some(declared),
    }
}

/// The claims of a live access token and its user, as introspection would call them live.
pub(super) async fn live_access_token(
    token: &str,
    checks: TokenChecks<'_>,
) -> Result<(AccessClaims, Option<User>), OAuthError> {
    match check_access_token(token, checks.store, checks.tokens, checks.cache).await? {
        Some(LiveToken::Access { claims, user }) => Ok((claims, user)),
        _ => Err(refused("the token is not an active authd access token")),
    }
}

async fn verify_access_subject(
    token: &str,
    checks: TokenChecks<'_>,
) -> Result<Subject, OAuthError> {
    let (claims, user) = live_access_token(token, checks)
        .await
        .map_err(|_| refused("subject_token is not an active authd access token"))?;
    // A client's own token already says what it may do: exchange acts for people.
    let Some(user) = user else {
        return Err(refused("subject_token must be a user's token"));
    };
    let scope = ScopeSet::parse(&claims.scope)
        .map_err(|_| refused("subject_token carries a malformed scope"))?;
    Ok(Subject {
        user,
        kind: SubjectKind::AccessToken {
            scope,
            jti: claims.jti,
        },
        client_id: claims.client_id,
        audience: claims.aud,
        sid: claims.sid,
        amr: claims.amr.unwrap_or_default().join(" "),
        auth_time: claims.auth_time,
        act: claims.act,
        may_act: claims.may_act,
        jkt: claims.cnf.map(|cnf| cnf.jkt),
        issued_at: claims.iat,
    })
}

/// What the exchange reads of an id_token.
#[derive(Debug, Deserialize)]
struct IdTokenClaims {
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    amr: Vec<String>,
    #[serde(default)]
    auth_time: Option<i64>,
}

async fn verify_id_token_subject(
    token: &str,
    checks: TokenChecks<'_>,
) -> Result<Subject, OAuthError> {
    let invalid = || refused("subject_token is not an active authd id_token");
    let claims = verify_id_token(token, checks).ok_or_else(invalid)?;
    let user = checks
        .cache
        .user(checks.store, &claims.sub)
        .await?
        .filter(|user| !user.disabled)
        .ok_or_else(invalid)?;
    // Logging out ends the id_tokens of the session too.
    if let Some(sid) = &claims.sid
        && session_ended(sid, checks.store, checks.cache).await?
    {
        return Err(invalid());
    }
    Ok(Subject {
        user,
        kind: SubjectKind::IdToken,
        audience: Audience::One(claims.aud.clone()),
        client_id: claims.aud,
        sid: claims.sid,
        amr: claims.amr.join(" "),
        auth_time: claims.auth_time,
        act: None,
        may_act: None,
        jkt: None,
        issued_at: claims.iat,
    })
}

/// An id_token authd signed, unexpired by `checks.now` (the test clock included).
fn verify_id_token(token: &str, checks: TokenChecks<'_>) -> Option<IdTokenClaims> {
    if token.len() > MAX_ID_TOKEN_BYTES || !looks_like_jwt(token) {
        return None;
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    // Access tokens (at+jwt) and logout tokens (logout+jwt) are signed by the same keys.
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case("JWT"))
    {
        return None;
    }
    let key = checks.tokens.keys().find(header.kid.as_deref()?)?;
    // RFC 8725 section 3.1: the key decides the algorithm.
    let mut validation = Validation::new(key.algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.set_issuer(&[checks.tokens.issuer()]);
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
    let claims = jsonwebtoken::decode::<IdTokenClaims>(token, &key.decoding, &validation)
        .ok()?
        .claims;
    let expired = claims.exp.saturating_add(checks.leeway) <= checks.now;
    let from_the_future = claims.iat > checks.now.saturating_add(MAX_CLOCK_SKEW_SECS);
    (!expired && !from_the_future).then_some(claims)
}
