//! Is this token live right now? Signature and claims, then revocation and the owner's state.
//!
//! Shared by `/introspect` and by everything that accepts bearer tokens, so that both always
//! agree on which tokens count.

use std::sync::Arc;

use crate::clock::unix_now;
use crate::config::SessionSettings;
use crate::credential_cache::CredentialCache;
use crate::credentials::hash_secret;
use crate::signin::sessions::family_session_is_live;
use crate::store::{RefreshFamily, Store, StoreError, User, sid_revocation};
pub use crate::tokens::looks_like_jwt;
use crate::tokens::{AccessClaims, Audience, TokenService, family_secret_of};

/// A token that is currently honoured.
#[derive(Debug)]
pub enum LiveToken {
    /// A signed access token.
    Access {
        /// Its verified claims.
        claims: AccessClaims,
        /// The user it belongs to (None for client tokens).
        user: Option<User>,
    },
    /// An opaque refresh token, the current one of its family.
    Refresh {
        /// Its family.
        record: RefreshFamily,
        /// The user it belongs to.
        user: User,
    },
}

pub use crate::tokens::MAX_REFRESH_TOKEN_BYTES;

/// Inspects any token authd issues; `None` means inactive for whatever reason.
/// `sessions` and `now` (the browser flows' clock) decide whether a session-bound refresh token's
/// session is still live.
pub async fn inspect_token(
    token: &str,
    store: &Store,
    tokens: &TokenService,
    cache: &CredentialCache,
    sessions: &SessionSettings,
    now: i64,
) -> Result<Option<LiveToken>, StoreError> {
    if looks_like_jwt(token) {
        check_access_token(token, store, tokens, cache).await
    } else {
        let live = check_refresh_token(token, store, tokens, cache).await?;
        match live {
            Some(LiveToken::Refresh { record, .. })
                if !family_session_is_live(store, sessions, &record, now, false).await? =>
            {
                Ok(None)
            }
            other => Ok(other),
        }
    }
}

/// An access token is live when it verifies, is not revoked, and its owner still may hold it.
pub async fn check_access_token(
    token: &str,
    store: &Store,
    tokens: &TokenService,
    cache: &CredentialCache,
) -> Result<Option<LiveToken>, StoreError> {
    // A token verified before needs no second signature check, but it lives no longer than its
    // key: a revoked, deleted or expired key ends cached verifications too.
    let verified = match cache.verified_token(token) {
        Some(verified) if tokens.verifies_with(&verified.kid) => verified,
        Some(_) => return Ok(None),
        None => {
            let Ok(verified) = tokens.verify_token_reloading(token).await else {
                return Ok(None);
            };
            let verified = Arc::new(verified);
            cache.remember_verified(token, verified.clone());
            verified
        }
    };
    let claims = &verified.claims;
    if is_revoked(&claims.jti, store, cache).await? {
        return Ok(None);
    }
    // Ending a session revokes every access token issued under it, by `sid`.
    if let Some(sid) = &claims.sid
        && is_revoked(&sid_revocation(sid), store, cache).await?
    {
        return Ok(None);
    }
    if !registration_is_current(
        &claims.client_id,
        &claims.client_registration,
        store,
        tokens,
        cache,
    )
    .await?
    {
        return Ok(None);
    }
    if !audience_is_known(&claims.aud, &claims.client_id, store, tokens, cache).await? {
        return Ok(None);
    }
    if claims.is_user_token() {
        let Some(user) = cache.user(store, &claims.sub).await? else {
            return Ok(None);
        };
        // Disabling a user or changing their password ends tokens issued before it.
        if user.disabled || claims.generation != Some(user.token_generation) {
            return Ok(None);
        }
        return Ok(Some(LiveToken::Access {
            claims: claims.clone(),
            user: Some(user),
        }));
    }
    Ok(Some(LiveToken::Access {
        claims: claims.clone(),
        user: None,
    }))
}

/// Whether the browser session `sid` ended, which ends every token issued under it.
pub async fn session_ended(
    sid: &str,
    store: &Store,
    cache: &CredentialCache,
) -> Result<bool, StoreError> {
    is_revoked(&sid_revocation(sid), store, cache).await
}

/// Whether `key` (a `jti`, or `sid:<session>`) is in the revocation feed.
async fn is_revoked(key: &str, store: &Store, cache: &CredentialCache) -> Result<bool, StoreError> {
    Ok(match cache.revocation_status(key) {
        Some(revoked) => revoked,
        // The in-memory set overflowed and cannot tell: the database can.
        None => store.is_access_token_revoked(key).await?,
    })
}

/// The family of a refresh token that is not its family's current one (an old, rotated token),
/// if the token is one of ours; `token_hash` is the hash the caller already looked up.
pub async fn family_of_stale_refresh_token(
    token: &str,
    token_hash: &str,
    store: &Store,
) -> Result<Option<RefreshFamily>, StoreError> {
    match family_secret_of(token) {
        Some(secret) => {
            store
                .find_refresh_family_by_secret(&hash_secret(secret))
                .await
        }
        None => store.find_legacy_refresh_family(token_hash).await,
    }
}

/// A token lives only as long as the registration of the client it was issued to: a client
/// deleted and registered again under the same client_id does not revive it.
async fn registration_is_current(
    client_id: &str,
    registration: &str,
    store: &Store,
    tokens: &TokenService,
    cache: &CredentialCache,
) -> Result<bool, StoreError> {
    if client_id == tokens.builtin_client_id() {
        return Ok(true);
    }
    Ok(cache
        .client_named(store, client_id)
        .await?
        .is_some_and(|client| client.registration == registration))
}

/// A token's `aud` must be authd's default audience, or resources (RFC 8707) its client may
/// still ask for: an audience authd never grants that client is not one of its tokens.
async fn audience_is_known(
    audience: &Audience,
    client_id: &str,
    store: &Store,
    tokens: &TokenService,
    cache: &CredentialCache,
) -> Result<bool, StoreError> {
    let default = tokens.audience();
    if matches!(audience, Audience::One(one) if one == default) {
        return Ok(true);
    }
    let client = if client_id == tokens.builtin_client_id() {
        None
    } else {
        cache.client_named(store, client_id).await?
    };
    let allowed = |aud: &String| {
        aud == default
            || client
                .as_ref()
                .is_some_and(|client| client.resources.iter().any(|uri| uri.as_str() == aud))
    };
    Ok(match audience {
        Audience::One(one) => allowed(one),
        Audience::Many(many) => !many.is_empty() && many.iter().all(allowed),
    })
}

async fn check_refresh_token(
    token: &str,
    store: &Store,
    tokens: &TokenService,
    cache: &CredentialCache,
) -> Result<Option<LiveToken>, StoreError> {
    if token.len() > MAX_REFRESH_TOKEN_BYTES {
        return Ok(None);
    }
    let Some(record) = store.find_refresh_token(&hash_secret(token)).await? else {
        return Ok(None);
    };
    if record.expires_at <= unix_now()
        || !registration_is_current(
            &record.client_id,
            &record.client_registration,
            store,
            tokens,
            cache,
        )
        .await?
    {
        return Ok(None);
    }
    match store.find_user_by_id(&record.user_id).await? {
        Some(user) if !user.disabled && user.token_generation == record.user_generation => {
            Ok(Some(LiveToken::Refresh { record, user }))
        }
        _ => Ok(None),
    }
}
