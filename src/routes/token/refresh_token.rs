//! The refresh token grant (RFC 6749 section 6) with rotation and reuse detection (RFC 9700
//! 4.14), and retries of a refresh whose response was lost (`tokens.refresh_retry_secs`).

use super::GrantContext;
use super::dpop_binding::{access_token_binding, require_bound_key, spend_proof};
use super::id_token::id_token_for;
use super::response::{
    TokenResponse, access_grant, allowed_user_scope, record_issuance, resolve_scope,
    user_access_token,
};
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::credentials::{PresentedClient, generate_secret, hash_secret};
use crate::domain::{GrantType, ResourceUri, ScopeSet};
use crate::error::OAuthError;
use crate::inspection::family_of_stale_refresh_token;
use crate::openid::SignIn;
use crate::resources::{AccessGrant, requested_target};
use crate::routes::OAuthForm;
use crate::signin::sessions::family_session_is_live;
use crate::store::{RefreshFamily, RefreshRetry, RefreshRotation, RotateOutcome, User};
use crate::tokens::{
    Authentication, MAX_REFRESH_TOKEN_BYTES, family_secret_of, mint_refresh_token, open_successor,
    seal_successor,
};

fn invalid() -> OAuthError {
    OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".into())
}

/// A family whose token was exchanged, the user it belongs to, and the refresh token to return.
struct Exchanged {
    family: RefreshFamily,
    user: User,
    refresh_token: String,
    /// The refresh's scope (for the id_token), and what the access token carries of it.
    scope: ScopeSet,
    access: AccessGrant,
}

/// Exchanges a refresh token for a new access token and a new refresh token.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let presented = form.require("refresh_token")?;
    if presented.len() > MAX_REFRESH_TOKEN_BYTES {
        return Err(invalid());
    }
    let presented_hash = hash_secret(presented);
    let exchanged = match ctx.store.find_refresh_token(&presented_hash).await? {
        Some(family) => rotate(form, client, ctx, presented, &presented_hash, family).await?,
        None => retry_or_reuse(form, client, ctx, presented, &presented_hash).await?,
    };
    respond(client, ctx, exchanged).await
}

/// Rotates the family whose current token was presented.
async fn rotate(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
    presented: &str,
    presented_hash: &str,
    family: RefreshFamily,
) -> Result<Exchanged, OAuthError> {
    let store = ctx.store;
    // Section 6: the token must have been issued to the authenticated client, and to this
    // registration of it.
    if family.client_id != client.client_id || family.client_registration != client.registration {
        log::warn!(
            "client {} presented a refresh token of another client",
            client.client_id
        );
        return Err(invalid());
    }
    let now = unix_now();
    if family.expires_at <= now {
        return Err(invalid());
    }
    // RFC 9449 section 5: a public client's family is bound to the key it was issued with.
    require_bound_key(ctx, family.dpop_jkt.as_deref(), "refresh token")?;
    let user = match store.find_user_by_id(&family.user_id).await? {
        Some(user) if !user.disabled && user.token_generation == family.user_generation => user,
        _ => return Err(invalid()),
    };
    ensure_session_is_live(ctx, &family).await?;
    // A request refused for its scope leaves the token unexchanged.
    let (scope, access) = granted_scope(form, client, ctx, &family, &user).await?;
    // Section 6: the new refresh token keeps the family's scope. A family from before
    // migration 0005 gets its secret now.
    let family_secret = family_secret_of(presented).map_or_else(generate_secret, str::to_owned);
    let next = mint_refresh_token(&family_secret, family.generation + 1);
    let retry_secs = ctx.settings.tokens.refresh_retry_secs;
    let retry = if retry_secs == 0 {
        None
    } else {
        let sealed = seal_successor(ctx.page_keys, &family.id, &next.token)
            .ok_or_else(|| anyhow::anyhow!("sealing a refresh successor failed"))?;
        let until = ctx
            .clock
            .now()
            .saturating_add(i64::try_from(retry_secs).unwrap_or(i64::MAX));
        Some((sealed, until))
    };
    spend_proof(ctx).await?;
    let rotation = RefreshRotation {
        family_id: &family.id,
        generation: family.generation,
        current_hash: presented_hash,
        next_hash: &next.token_hash,
        family_hash: &next.family_hash,
        now,
        expires_at: now + ctx.settings.tokens.refresh_ttl_secs as i64,
        retry,
    };
    if store.rotate_refresh_token(&rotation).await? == RotateOutcome::NotCurrent {
        // A twin of this request may have rotated it a moment ago: that is a retry.
        // (Its proof was spent above and its key checked against the family's.)
        if let Some(exchanged) = claim_retry(form, client, ctx, presented_hash, &family).await? {
            return Ok(exchanged);
        }
        // Exchanged concurrently (reuse, section 4.14.2), or revoked while we looked.
        revoke_family_on_reuse(ctx, &family.id, &client.client_id).await?;
        return Err(invalid());
    }
    Ok(Exchanged {
        family,
        user,
        refresh_token: next.token,
        scope,
        access,
    })
}

/// A token that is not its family's current one: the one just exchanged, presented again
/// within the retry window by its client (a lost response), gets the same successor; anything
/// else is reuse.
async fn retry_or_reuse(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
    presented: &str,
    presented_hash: &str,
) -> Result<Exchanged, OAuthError> {
    let Some(family) = family_of_stale_refresh_token(presented, presented_hash, ctx.store).await?
    else {
        return Err(invalid());
    };
    if let Some(exchanged) = claim_retry(form, client, ctx, presented_hash, &family).await? {
        spend_proof(ctx).await?;
        return Ok(exchanged);
    }
    // RFC 9700 section 4.14.2: whoever holds an old token, the family is compromised; another
    // client cannot end it (it never held it).
    if family.client_id == client.client_id {
        revoke_family_on_reuse(ctx, &family.id, &client.client_id).await?;
    }
    Err(invalid())
}

/// The family's current token, if `presented_hash` is the token its last rotation exchanged
/// and the window is open for this client.
async fn claim_retry(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
    presented_hash: &str,
    family: &RefreshFamily,
) -> Result<Option<Exchanged>, OAuthError> {
    if ctx.settings.tokens.refresh_retry_secs == 0 {
        return Ok(None);
    }
    // RFC 9449 section 5: a family bound to a DPoP key is retried with a proof of that key;
    // anything else presenting its old token is not its client, and it is reuse.
    if require_bound_key(ctx, family.dpop_jkt.as_deref(), "refresh token").is_err() {
        return Ok(None);
    }
    let retry = RefreshRetry {
        family_id: &family.id,
        presented_hash,
        client_id: &client.client_id,
        client_registration: &client.registration,
        clock_now: ctx.clock.now(),
        now: unix_now(),
    };
    let Some((family, sealed)) = ctx.store.claim_refresh_retry(&retry).await? else {
        return Ok(None);
    };
    let successor = open_successor(ctx.page_keys, &family.id, &sealed)
        .filter(|successor| hash_secret(successor) == family.current_hash);
    let Some(refresh_token) = successor else {
        // Sealed under another key-encryption key, or for another token: no retry.
        log::warn!(
            "refresh family {} holds a successor that does not open",
            family.id
        );
        return Ok(None);
    };
    let user = match ctx.store.find_user_by_id(&family.user_id).await? {
        Some(user) if !user.disabled && user.token_generation == family.user_generation => user,
        _ => return Err(invalid()),
    };
    ensure_session_is_live(ctx, &family).await?;
    let (scope, access) = granted_scope(form, client, ctx, &family, &user).await?;
    log::info!(
        "client {} retried a refresh of family {}",
        client.client_id,
        family.id
    );
    Ok(Some(Exchanged {
        family,
        user,
        refresh_token,
        scope,
        access,
    }))
}

/// A family from the code flow ends with its browser session unless it is offline (OpenID
/// Connect Core section 11); a session that timed out never comes back, so neither does it.
async fn ensure_session_is_live(
    ctx: &GrantContext<'_>,
    family: &RefreshFamily,
) -> Result<(), OAuthError> {
    let sessions = &ctx.settings.sessions;
    if !family_session_is_live(ctx.store, sessions, family, ctx.clock.now(), true).await? {
        ctx.store.revoke_refresh_family(&family.id).await?;
        return Err(invalid());
    }
    Ok(())
}

/// The scope of the refresh: the family's, narrowed as asked, without roles the user lost since
/// issuance; and what the new access token carries of it, for the resources asked for.
async fn granted_scope(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
    family: &RefreshFamily,
    user: &User,
) -> Result<(ScopeSet, AccessGrant), OAuthError> {
    let original =
        ScopeSet::parse(&family.scope).map_err(|e| anyhow::anyhow!("stored scope: {e}"))?;
    // Narrowing is allowed, widening is not.
    let requested = resolve_scope(form.get("scope"), &original)?;
    let allowed = allowed_user_scope(ctx.store.scopes_of_user(&user.id).await?, client);
    let scope = requested.intersection(&allowed);
    // RFC 8707 section 2.2: some or all of the grant's resources, never others; those the client
    // lost since are not carried over.
    let granted = ResourceUri::parse_list(&family.resources.split_whitespace().collect::<Vec<_>>())
        .map_err(|e| anyhow::anyhow!("stored resources: {e}"))?;
    let still_allowed: Vec<ResourceUri> = granted
        .iter()
        .filter(|uri| client.resources.contains(uri))
        .cloned()
        .collect();
    let target = match requested_target(form.get_all("resource"), &still_allowed)? {
        Some(target) => target,
        None if still_allowed.len() < granted.len() => {
            return Err(OAuthError::InvalidTarget(
                "the client may no longer ask for some of the grant's resources: name the ones \
                 it may"
                    .into(),
            ));
        }
        None => granted,
    };
    let access = access_grant(ctx, scope.clone(), &target).await?;
    Ok((scope, access))
}

/// The token response for an exchanged family.
async fn respond(
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
    exchanged: Exchanged,
) -> Result<TokenResponse, OAuthError> {
    let Exchanged {
        family,
        user,
        refresh_token,
        scope,
        access,
    } = exchanged;
    let tokens = ctx.tokens;
    let now = unix_now();
    // A family that ends with its session hands the session on to its access tokens.
    let session = family.session_handle.as_deref().filter(|_| !family.offline);
    // The family's sign-in, unchanged by refreshing (families stored before it was recorded
    // have none).
    let authentication = match (family.auth_time, family.amr.as_deref()) {
        (Some(auth_time), Some(amr)) => Some(Authentication { amr, auth_time }),
        _ => None,
    };
    let access_token = user_access_token(
        tokens,
        &user,
        client,
        &access,
        session,
        authentication,
        now,
        access_token_binding(ctx),
    )?;
    // Core section 12.2: the same sub, auth_time and sid as at sign-in; families from the
    // password grant (no browser session) get no id_token, as their first response had none.
    let id_token = match (family.session_handle.is_some(), authentication) {
        (true, Some(Authentication { amr, auth_time })) => {
            let sign_in = SignIn {
                user: &user,
                scope: &scope,
                auth_time,
                amr,
                sid: family.session_handle.as_deref(),
                nonce: None,
            };
            id_token_for(ctx, client, &sign_in, &access_token, now).await?
        }
        _ => None,
    };
    record_issuance(
        ctx,
        GrantType::RefreshToken,
        &user.username,
        client,
        &access.scope,
    )
    .await;
    Ok(TokenResponse::new(
        access_token,
        tokens.access_ttl(),
        &access.scope,
        Some(refresh_token),
    )
    .with_id_token(id_token))
}

async fn revoke_family_on_reuse(
    ctx: &GrantContext<'_>,
    family_id: &str,
    client_id: &str,
) -> Result<(), OAuthError> {
    // A family a concurrent revocation already ended is no news.
    if !ctx.store.revoke_refresh_family(family_id).await? {
        return Ok(());
    }
    let event = AuditEvent::new("refresh.reuse_detected")
        .client(client_id)
        .ip(ctx.ip.clone())
        .detail(format!("family={family_id}"));
    ctx.audit.record(event).await;
    log::warn!("refresh token reuse detected for client {client_id}: family {family_id} revoked");
    Ok(())
}
