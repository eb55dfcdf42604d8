//! Extractors: `Caller` (any live access token) and `Authorized<S>` (one that holds scope `S`).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::clock::unix_now;
use crate::credential_cache::CredentialCache;
use crate::domain::{Authority, Scope};
use crate::dpop::{Dpop, Scheme, confirm_presentation, invalid_token};
use crate::error::ApiError;
use crate::inspection::{LiveToken, check_access_token};
use crate::store::{Store, User};
use crate::tokens::{AccessClaims, TokenService};

/// Whoever presented a live access token.
#[derive(Debug)]
pub struct Caller {
    /// The verified claims.
    pub claims: AccessClaims,
    /// The user, for user tokens.
    pub user: Option<User>,
}

impl Caller {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.scope.split(' ').any(|s| s == scope)
    }

    /// What this caller may grant and act on under the delegation rule: its token's scopes.
    pub fn authority(&self) -> Authority {
        // Tokens authd signed carry valid scopes; anything else grants nothing.
        let scopes = self
            .claims
            .scope
            .split(' ')
            .filter_map(|s| Scope::parse(s).ok())
            .collect();
        Authority::Caller {
            scopes,
            user_id: self.user.as_ref().map(|user| user.id.clone()),
        }
    }

    /// A short name for logs: the username, or the client for client tokens.
    pub fn actor(&self) -> &str {
        self.user
            .as_ref()
            .map_or(self.claims.client_id.as_str(), |u| u.username.as_str())
    }
}

/// A scope a route requires; declare markers with `required_scope!`.
pub trait RequiredScope {
    /// The scope.
    const SCOPE: &'static str;
}

/// A caller whose token holds `S::SCOPE`; otherwise 401 or 403 per RFC 6750.
#[derive(Debug)]
pub struct Authorized<S: RequiredScope> {
    /// The caller.
    pub caller: Caller,
    _scope: PhantomData<S>,
}

/// Reads `Authorization: Bearer <token>` or `Authorization: DPoP <token>` (RFC 9449 section
/// 7.1); anything else is a missing token.
fn presented_token(request: &HttpRequest) -> Result<(Scheme, String), ApiError> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| ApiError::MissingToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::MissingToken)?;
    let token = token.trim();
    let scheme = Scheme::parse(scheme).ok_or(ApiError::MissingToken)?;
    if token.is_empty() {
        return Err(ApiError::MissingToken);
    }
    Ok((scheme, token.to_owned()))
}

async fn authenticate(request: HttpRequest) -> Result<Caller, ApiError> {
    let (scheme, token) = presented_token(&request)?;
    let store = request
        .app_data::<web::Data<Store>>()
        .ok_or_else(|| anyhow::anyhow!("store is not configured"))?;
    let tokens = request
        .app_data::<web::Data<TokenService>>()
        .ok_or_else(|| anyhow::anyhow!("token service is not configured"))?;
    let cache = request
        .app_data::<web::Data<CredentialCache>>()
        .ok_or_else(|| anyhow::anyhow!("state cache is not configured"))?;
    let dpop = request
        .app_data::<web::Data<Dpop>>()
        .ok_or_else(|| anyhow::anyhow!("DPoP is not configured"))?;
    let (claims, user) = match check_access_token(&token, store, tokens, cache).await? {
        // A token asked for another API (RFC 8707) is not for authd's own.
        Some(LiveToken::Access { claims, user }) if claims.aud.contains(tokens.audience()) => {
            (claims, user)
        }
        _ if scheme == Scheme::Dpop => {
            return Err(invalid_token(
                "the access token is invalid, expired or revoked",
            ));
        }
        _ => return Err(ApiError::InvalidToken),
    };
    confirm_presentation(&request, dpop, scheme, &token, &claims, unix_now())?;
    Ok(Caller { claims, user })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        Box::pin(authenticate(request.clone()))
    }
}

impl<S: RequiredScope + 'static> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let caller = authenticate(request).await?;
            if !caller.has_scope(S::SCOPE) {
                return Err(ApiError::InsufficientScope(S::SCOPE));
            }
            Ok(Authorized {
                caller,
                _scope: PhantomData,
            })
        })
    }
}
