//! The refresh token grant (RFC 6749 section 6) with rotation and reuse detection (RFC 9700 4.14).

use super::GrantContext;
use super::response::{
    TokenResponse, allowed_user_scope, new_refresh_token, record_issuance, resolve_scope,
    user_access_token,
};
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::credentials::{PresentedClient, hash_secret};
use crate::domain::ScopeSet;
use crate::error::OAuthError;
use crate::routes::OAuthForm;
use crate::store::RotateOutcome;

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
    let old_hash = hash_secret(presented);
    let Some(record) = store.find_refresh_token(&old_hash).await? else {
        return Err(invalid());
    };
    // Section 6: the token must have been issued to the authenticated client.
    if record.client_id != client.client_id {
        log::warn!(
            "client {} presented a refresh token of another client",
            client.client_id
        );
        return Err(invalid());
    }
    let now = unix_now();
    if record.rotated_at.is_some() {
        revoke_family_on_reuse(ctx, &record.family_id, &client.client_id).await?;
        return Err(invalid());
    }
    if record.expires_at <= now {
        return Err(invalid());
    }
    let user = match store.find_user_by_id(&record.user_id).await? {
        Some(user) if !user.disabled => user,
        Some(_) => return Err(OAuthError::InvalidGrant("the account is disabled".into())),
        None => return Err(invalid()),
    };
    let original =
        ScopeSet::parse(&record.scope).map_err(|e| anyhow::anyhow!("stored scope: {e}"))?;
    // Narrowing is allowed, widening is not; roles lost since issuance are not carried over.
    let requested = resolve_scope(form.get("scope"), &original)?;
    let allowed = allowed_user_scope(store.scopes_of_user(&user.id).await?, client);
    let scope = requested.intersection(&allowed);
    // Section 6: a new refresh token keeps the scope of the one it replaces.
    let (token, new_record) = new_refresh_token(
        &record.family_id,
        &record.scope,
        client,
        &user,
        ctx.settings,
        now,
    );
    if store
        .rotate_refresh_token(&old_hash, &new_record, now)
        .await?
        == RotateOutcome::AlreadyRotated
    {
        revoke_family_on_reuse(ctx, &record.family_id, &client.client_id).await?;
        return Err(invalid());
    }
    let access_token = user_access_token(tokens, &user, client, &scope, now)?;
    record_issuance(ctx, "refresh_token", &user.username, client, &scope).await;
    Ok(TokenResponse::new(
        access_token,
        tokens.access_ttl(),
        &scope,
        Some(token),
    ))
}

async fn revoke_family_on_reuse(
    ctx: &GrantContext<'_>,
    family_id: &str,
    client_id: &str,
) -> Result<(), OAuthError> {
    let revoked = ctx.store.revoke_refresh_family(family_id).await?;
    let event = AuditEvent::new("refresh.reuse_detected")
        .client(client_id)
        .ip(ctx.ip.clone())
        .detail(format!("revoked {revoked} tokens of the family"));
    ctx.audit.record(event).await;
    log::warn!(
        "refresh token reuse detected for client {client_id}: revoked {revoked} tokens of its family"
    );
    Ok(())
}
