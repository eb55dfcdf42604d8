//! The device code grant (RFC 8628 section 3.4): the device polls with its device code until
//! the person has decided at `/device`, then gets tokens once.
//!
//! Each poll is one conditional UPDATE (`store::device_codes`): it takes its turn if the
//! interval has passed, else the interval grows by 5 seconds and the answer is `slow_down`
//! (section 3.5). The redemption is another: it marks an approved code redeemed only if it was
//! not before and its approving user is still enabled at the generation of the approval, so
//! two concurrent polls get one token set, and a password change or a disabling between the
//! approval and the redemption leaves the device with nothing.

use super::GrantContext;
use super::dpop_binding::{access_token_binding, spend_proof};
use super::id_token::id_token_for;
use super::response::{
    TokenResponse, access_grant, client_gets_refresh_tokens, record_issuance, start_refresh_family,
    user_access_token,
};
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::credentials::{PresentedClient, hash_secret};
use crate::domain::{GrantType, ResourceUri, ScopeSet};
use crate::error::OAuthError;
use crate::openid::SignIn;
use crate::resources::requested_target;
use crate::routes::OAuthForm;
use crate::store::{DeviceCode, DevicePoll, User};
use crate::tokens::Authentication;

/// Answers one poll: tokens once the person approved, else the section 3.5 error.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let device_code_hash = hash_secret(form.require("device_code")?);
    // Device codes live by the flows' clock; tokens are stamped with the wall clock.
    let now = ctx.clock.now();
    let poll = ctx
        .store
        .poll_device_code(
            &device_code_hash,
            &client.client_id,
            &client.registration,
            now,
        )
        .await?;
    let code = match poll {
        // Another client's code is as unknown to this one as a made-up one.
        DevicePoll::Unknown => return Err(OAuthError::invalid_grant("the device code is invalid")),
        DevicePoll::TooSoon(code) if code.expires_at > now => {
            return Err(OAuthError::SlowDown(format!(
                "polling too fast: wait {} seconds between requests",
                code.interval_secs
            )));
        }
        DevicePoll::TooSoon(code) | DevicePoll::Found(code) => code,
    };
    if code.expires_at <= now {
        return Err(OAuthError::ExpiredToken(
            "the device code has expired; start again".into(),
        ));
    }
    match code.status.as_str() {
        "approved" => {}
        "pending" => {
            return Err(OAuthError::AuthorizationPending(
                "the user has not yet approved the device".into(),
            ));
        }
        "denied" => {
            return Err(OAuthError::AccessDenied(
                "the user denied the device".into(),
            ));
        }
        _ => {
            return Err(OAuthError::invalid_grant(
                "the device code was already used",
            ));
        }
    }
    // RFC 8707 section 2.2: the resources asked for at device authorization, or some of them.
    let granted = ResourceUri::parse_list(&code.resources.split_whitespace().collect::<Vec<_>>())
        .map_err(|e| anyhow::anyhow!("stored device code resources: {e}"))?;
    let target = requested_target(form.get_all("resource"), &granted)?.unwrap_or(granted);
    spend_proof(ctx).await?;
    let Some(redeemed) = ctx.store.redeem_device_code(&device_code_hash, now).await? else {
        // A concurrent poll redeemed it, or its user was disabled or changed their password.
        return Err(OAuthError::invalid_grant(
            "the device code was already used, or its approval no longer stands",
        ));
    };
    issue(ctx, client, &redeemed, &target).await
}

/// The tokens of a redeemed code: as its approval recorded (user, generation, scope, how they
/// had signed in), for `target`. They belong to no browser session: the device signed in on
/// its own, and its tokens outlive the session that approved it.
async fn issue(
    ctx: &GrantContext<'_>,
    client: &PresentedClient,
    code: &DeviceCode,
    target: &[ResourceUri],
) -> Result<TokenResponse, OAuthError> {
    let stored =
        |what: &str| OAuthError::Internal(anyhow::anyhow!("redeemed device code lacks {what}"));
    let user_id = code.user_id.as_deref().ok_or_else(|| stored("user"))?;
    let generation = code.user_generation.ok_or_else(|| stored("generation"))?;
    let auth_time = code.auth_time.ok_or_else(|| stored("auth_time"))?;
    let amr = code.amr.as_deref().ok_or_else(|| stored("amr"))?;
    let scope = ScopeSet::parse(
        code.granted_scope
            .as_deref()
            .ok_or_else(|| stored("scope"))?,
    )
    .map_err(|e| anyhow::anyhow!("stored device code scope: {e}"))?;
    let Some(user) = ctx.cache.user(ctx.store, user_id).await? else {
        return Err(OAuthError::invalid_grant("the user no longer exists"));
    };
    // The approval's generation, which the redemption just found current: a password change
    // since makes these tokens unusable.
    let user = User {
        token_generation: generation,
        ..user
    };
    let issued_at = unix_now();
    let authentication = Authentication { amr, auth_time };
    let refresh_token = if client_gets_refresh_tokens(client) {
        let grant = (&scope, target);
        Some(start_refresh_family(ctx, client, &user, grant, authentication, issued_at).await?)
    } else {
        None
    };
    let access = access_grant(ctx, scope.clone(), target).await?;
    let access_token = user_access_token(
        ctx.tokens,
        &user,
        client,
        &access,
        None,
        Some(authentication),
        issued_at,
        access_token_binding(ctx),
    )?;
    let sign_in = SignIn {
        user: &user,
        scope: &scope,
        auth_time,
        amr,
        sid: None,
        nonce: None,
    };
    let id_token = id_token_for(ctx, client, &sign_in, &access_token, issued_at).await?;
    let event = AuditEvent::new("device.redeemed")
        .actor(&user.username)
        .client(&client.client_id)
        .ip(ctx.ip.clone())
        .detail(format!("scope={}", access.scope));
    ctx.audit.record(event).await;
    record_issuance(
        ctx,
        GrantType::DeviceCode,
        &user.username,
        client,
        &access.scope,
    )
    .await;
    Ok(TokenResponse::new(
        access_token,
        ctx.tokens.access_ttl(),
        &access.scope,
        refresh_token,
    )
    .with_id_token(id_token))
}
