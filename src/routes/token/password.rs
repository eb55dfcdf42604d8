//! The resource owner password credentials grant (RFC 6749 section 4.3).

use secrecy::SecretString;

use super::GrantContext;
use super::response::{
    TokenResponse, allowed_user_scope, client_gets_refresh_tokens, new_refresh_token,
    record_issuance, resolve_scope, user_access_token,
};
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::credentials::{LoginKeys, PasswordHash, PresentedClient, VerifyOutcome};
use crate::domain::{MAX_USERNAME_CHARS, Password, Username};
use crate::error::OAuthError;
use crate::metrics::METRICS;
use crate::routes::OAuthForm;

/// Checks the user's password and issues tokens.
pub async fn grant(
    form: &OAuthForm,
    client: &PresentedClient,
    ctx: &GrantContext<'_>,
) -> Result<TokenResponse, OAuthError> {
    let raw_username = form.require("username")?;
    if raw_username.chars().count() > MAX_USERNAME_CHARS {
        return Err(OAuthError::invalid_request(format!(
            "username must be at most {MAX_USERNAME_CHARS} characters"
        )));
    }
    let password = Password::parse(SecretString::from(form.require("password")?.to_owned()))
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let username = Username::parse(raw_username);
    let counted_as = username.as_ref().map_or(raw_username, |u| u.as_str());
    let keys = LoginKeys::new(counted_as, ctx.ip.as_deref());
    let now = unix_now();
    // A locked username or throttled address is refused before argon2 runs, even with the
    // right password.
    let gate = ctx.lockout.check(ctx.store, &keys, now).await?;
    if let Some(retry_after) = gate.retry_after {
        record_login(ctx, "login.locked", counted_as, client).await;
        return Err(OAuthError::LockedOut { retry_after });
    }
    // A username that cannot exist is checked like an unknown one, at the same cost.
    let login = match &username {
        Ok(username) => ctx.store.find_user_login(username).await?,
        Err(_) => None,
    };
    let stored_hash: Option<&PasswordHash> = login.as_ref().map(|l| &l.password_hash);
    let outcome = ctx.hasher.verify(password.secret(), stored_hash).await?;
    let (Some(login), VerifyOutcome::Match | VerifyOutcome::MatchRehashed(_)) = (login, &outcome)
    else {
        log::warn!("password grant failed for username {counted_as:?}");
        METRICS.login_failed();
        record_login(ctx, "login.failed", counted_as, client).await;
        if let Some(seconds) = ctx.lockout.record_failure(ctx.store, &keys, now).await? {
            log::warn!("login for {counted_as:?} locked for {seconds} s");
            METRICS.locked_out();
            record_login(ctx, "login.lockout", counted_as, client).await;
        }
        return Err(OAuthError::InvalidGrant(
            "invalid username or password".into(),
        ));
    };
    let user = login.user;
    if user.disabled {
        log::warn!("password grant refused: user {} is disabled", user.username);
        record_login(ctx, "login.disabled", &user.username, client).await;
        return Err(OAuthError::InvalidGrant("the account is disabled".into()));
    }
    ctx.lockout.record_success(ctx.store, &keys, &gate).await?;
    record_login(ctx, "login.succeeded", &user.username, client).await;
    if let VerifyOutcome::MatchRehashed(phc) = outcome {
        let upgraded = PasswordHash::from_stored(phc);
        if let Err(error) = ctx.store.upgrade_password_hash(&user.id, &upgraded).await {
            log::warn!(
                "could not upgrade the password hash of {}: {error}",
                user.username
            );
        }
    }
    let allowed = allowed_user_scope(ctx.store.scopes_of_user(&user.id).await?, client);
    let scope = resolve_scope(form.get("scope"), &allowed)?;
    let access_token = user_access_token(ctx.tokens, &user, client, &scope, now)?;
    let refresh_token = if client_gets_refresh_tokens(client) {
        let family_id = uuid::Uuid::new_v4().to_string();
        let (token, record) = new_refresh_token(
            &family_id,
            &scope.to_string(),
            client,
            &user,
            ctx.settings,
            now,
        );
        ctx.store.insert_refresh_token(&record).await?;
        Some(token)
    } else {
        None
    };
    record_issuance(ctx, "password", &user.username, client, &scope).await;
    Ok(TokenResponse::new(
        access_token,
        ctx.tokens.access_ttl(),
        &scope,
        refresh_token,
    ))
}

async fn record_login(
    ctx: &GrantContext<'_>,
    action: &'static str,
    username: &str,
    client: &PresentedClient,
) {
    let event = AuditEvent::new(action)
        .actor(username)
        .client(&client.client_id)
        .ip(ctx.ip.clone());
    ctx.audit.record(event).await;
}
