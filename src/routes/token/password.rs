//! The resource owner password credentials grant (RFC 6749 section 4.3), with the user's second
//! factor: a user with TOTP must add `otp` (a TOTP or a recovery code).

use secrecy::SecretString;

use super::GrantContext;
use super::dpop_binding::{access_token_binding, spend_proof};
use super::response::{
    TokenResponse, access_grant, allowed_user_scope, client_gets_refresh_tokens, record_issuance,
    resolve_scope, start_refresh_family, user_access_token,
};
use crate::clock::unix_now;
use crate::credentials::PresentedClient;
use crate::domain::{GrantType, MAX_USERNAME_CHARS, Password};
use crate::error::OAuthError;
use crate::mfa::OneTimeCodeCheck;
use crate::mfa::strength::{AMR_PASSWORD, AMR_PASSWORD_OTP};
use crate::resources::requested_target;
use crate::routes::OAuthForm;
use crate::signin::PasswordCheck;
use crate::store::User;
use crate::tokens::Authentication;

/// Checks the user's password (and second factor) and issues tokens.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &mut GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let raw_username = form.require("username")?;
    if raw_username.chars().count() > MAX_USERNAME_CHARS {
        return Err(OAuthError::invalid_request(format!(
            "username must be at most {MAX_USERNAME_CHARS} characters"
        )));
    }
    let password = Password::parse(SecretString::from(form.require("password")?.to_owned()))
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let now = unix_now();
    let cookie_header = ctx.cookie_header.take();
    let mut check = PasswordCheck {
        store: ctx.store,
        hasher: ctx.hasher,
        lockout: ctx.lockout,
        audit: ctx.audit,
        device_cookies: ctx.device_cookies,
        ip: ctx.ip.clone(),
        still_waiting: ctx.still_waiting.take(),
        cookie_header: cookie_header.clone(),
        client_id: &client.client_id,
    };
    let signed_in = check.sign_in(raw_username, &password, now).await?;
    let user = signed_in.user;
    // The password was right (and a wrong one counted) before anything below is said, so these
    // answers tell a stranger nothing.
    let amr = second_factor(form, client, ctx, &user, cookie_header.as_deref()).await?;
    // How and when the user proved who they are, for the tokens and the refresh family.
    let authentication = Authentication {
        amr,
        auth_time: now,
    };
    let allowed = allowed_user_scope(ctx.store.scopes_of_user(&user.id).await?, client);
    let scope = resolve_scope(form.get("scope"), &allowed)?;
    let target = requested_target(form.get_all("resource"), &client.resources)?;
    let target = target.as_deref().unwrap_or_default();
    // The refresh family keeps the whole grant; each access token carries its audience's part.
    let access = access_grant(ctx, scope.clone(), target).await?;
    spend_proof(ctx).await?;
    let access_token = user_access_token(
        ctx.tokens,
        &user,
        client,
        &access,
        None,
        Some(authentication),
        now,
        access_token_binding(ctx),
    )?;
    let refresh_token = if client_gets_refresh_tokens(client) {
        let grant = (&scope, target);
        Some(start_refresh_family(ctx, client, &user, grant, authentication, now).await?)
    } else {
        None
    };
    let scope = access.scope;
    record_issuance(ctx, GrantType::Password, &user.username, client, &scope).await;
    let response = TokenResponse::new(access_token, ctx.tokens.access_ttl(), &scope, refresh_token);
    Ok(response.with_cookie(signed_in.device_cookie))
}

/// Checks the second factor the user's account calls for; returns the sign-in's methods
/// (RFC 8176, space-separated: `pwd`, or `pwd otp mfa`).
async fn second_factor(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
    user: &User,
    cookie_header: Option<&str>,
) -> Result<&'static str, OAuthError> {
    // The clock the browser pages read too (tests move it to reach other TOTP steps).
    let now = ctx.clock.now();
    let factors = ctx.store.password_grant_factors(&user.id).await?;
    if factors.totp {
        let Some(otp) = form.get("otp") else {
            return Err(OAuthError::MfaRequired(
                "this account has a second factor: send its one-time code as `otp`".into(),
            ));
        };
        let user_key = crate::credentials::LoginKeys::new(&user.username, None);
        let mut check = OneTimeCodeCheck {
            store: ctx.store,
            lockout: ctx.lockout,
            audit: ctx.audit,
            sealer: ctx.totp_sealer,
            ip: ctx.ip.clone(),
            client_id: &client.client_id,
            known_device: ctx
                .device_cookies
                .vouches_for(cookie_header, user_key.user_key(), now),
        };
        check.check(user, otp, now).await?;
        return Ok(AMR_PASSWORD_OTP);
    }
    // A passkey cannot be presented to /token, and a required second factor is set up in the
    // browser: both send the person there.
    if factors.passkey {
        return Err(OAuthError::InvalidGrant(
            "this account signs in with a passkey: sign in with a browser".into(),
        ));
    }
    if factors.role_requires_mfa {
        return Err(OAuthError::InvalidGrant(
            "this account must use a second factor: sign in with a browser to set one up".into(),
        ));
    }
    Ok(AMR_PASSWORD)
}
