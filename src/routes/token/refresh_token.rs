//! The refresh token grant (RFC 6749 section 6) with rotation and reuse detection (RFC 9700 4.14).

use super::GrantContext;
use super::dpop_binding::{access_token_binding, require_bound_key, spend_proof};
use super::id_token::id_token_for;
use super::response::{
    TokenResponse, allowed_user_scope, record_issuance, resolve_scope, user_access_token,
};
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::credentials::{PresentedClient, generate_secret, hash_secret};
use crate::domain::ScopeSet;
use crate::error::OAuthError;
use crate::inspection::family_of_stale_refresh_token;
use crate::openid::SignIn;
use crate::routes::OAuthForm;
use crate::signin::sessions::family_session_is_live;
use crate::store::{RefreshRotation, RotateOutcome};
use crate::tokens::{
    Authentication, MAX_REFRESH_TOKEN_BYTES, family_secret_of, mint_refresh_token,
};

fn invalid() -> OAuthError {
    OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".into())
}

/// Exchanges a refresh token for a new access token and a new refresh token.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let (store, tokens) = (ctx.store, ctx.tokens);
    let presented = form.require("refresh_token")?;
    if presented.len() > MAX_REFRESH_TOKEN_BYTES {
        return Err(invalid());
    }
    let presented_hash = hash_secret(presented);
    let Some(family) = store.find_refresh_token(&presented_hash).await? else {
        detect_reuse(ctx, presented, &presented_hash, client).await?;
        return Err(invalid());
    };
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
    // A family from the code flow ends with its browser session unless it is offline (OpenID
    // Connect Core section 11); a session that timed out never comes back, so neither does it.
    let sessions = &ctx.settings.sessions;
    if !family_session_is_live(store, sessions, &family, ctx.clock.now(), true).await? {
        store.revoke_refresh_family(&family.id).await?;
        return Err(invalid());
    }
    let original =
        ScopeSet::parse(&family.scope).map_err(|e| anyhow::anyhow!("stored scope: {e}"))?;
    // Narrowing is allowed, widening is not; roles lost since issuance are not carried over.
    let requested = resolve_scope(form.get("scope"), &original)?;
    let allowed = allowed_user_scope(store.scopes_of_user(&user.id).await?, client);
    let scope = requested.intersection(&allowed);
    // Section 6: the new refresh token keeps the family's scope. A family from before
    // migration 0005 gets its secret now.
    let family_secret = family_secret_of(presented).map_or_else(generate_secret, str::to_owned);
    let next = mint_refresh_token(&family_secret, family.generation + 1);
    spend_proof(ctx).await?;
    let rotation = RefreshRotation {
        family_id: &family.id,
        generation: family.generation,
        current_hash: &presented_hash,
        next_hash: &next.token_hash,
        family_hash: &next.family_hash,
        now,
        expires_at: now + ctx.settings.tokens.refresh_ttl_secs as i64,
    };
    if store.rotate_refresh_token(&rotation).await? == RotateOutcome::NotCurrent {
        // Exchanged concurrently (reuse, section 4.14.2), or revoked while we looked.
        revoke_family_on_reuse(ctx, &family.id, &client.client_id).await?;
        return Err(invalid());
    }
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
        &scope,
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
    record_issuance(ctx, "refresh_token", &user.username, client, &scope).await;
    Ok(
        TokenResponse::new(access_token, tokens.access_ttl(), &scope, Some(next.token))
            .with_id_token(id_token),
    )
}

/// A token that is not its family's current one but carries the family's secret was exchanged
/// before: whoever holds it, the family is compromised (RFC 9700 section 4.14.2).
async fn detect_reuse(
    ctx: &GrantContext<'_>,
    presented: &str,
    presented_hash: &str,
    client: &PresentedClient,
) -> Result<(), OAuthError> {
    let Some(family) = family_of_stale_refresh_token(presented, presented_hash, ctx.store).await?
    else {
        return Ok(());
    };
    if family.client_id == client.client_id {
        revoke_family_on_reuse(ctx, &family.id, &client.client_id).await?;
    }
    Ok(())
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
