//! The resource owner password credentials grant (RFC 6749 section 4.3).

use secrecy::SecretString;

use super::GrantContext;
use super::response::{
    TokenResponse, allowed_user_scope, client_gets_refresh_tokens, record_issuance, resolve_scope,
    start_refresh_family, user_access_token,
};
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::credentials::{
    HashRequester, LoginKeys, PasswordHash, PresentedClient, RefusalReason, Reservation,
    VerifyOutcome,
};
use crate::domain::{MAX_USERNAME_CHARS, Password, Username};
use crate::error::OAuthError;
use crate::metrics::METRICS;
use crate::routes::OAuthForm;

/// Checks the user's password and issues tokens.
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
    let username = Username::parse(raw_username);
    let counted_as = username.as_ref().map_or(raw_username, |u| u.as_str());
    let keys = LoginKeys::new(counted_as, ctx.ip.as_deref());
    let now = unix_now();
    // The attempt is counted before argon2 runs: a locked pair, a throttled address or a spent
    // guess budget is refused without hashing, even with the right password.
    let known_device =
        ctx.device_cookies
            .vouches_for(ctx.cookie_header.as_deref(), keys.user_key(), now);
    let exempt_from_budget = || async {
        if known_device {
            return Ok(true);
        }
        match keys.address() {
            Some(address) => {
                let since = now - ctx.lockout.known_address_secs();
                ctx.store
                    .is_known_login_address(keys.user_key(), address, since)
                    .await
            }
            None => Ok(false),
        }
    };
    let reservation = ctx
        .lockout
        .reserve(ctx.store, &keys, now, exempt_from_budget)
        .await?;
    let attempt = match reservation {
        Reservation::Granted(attempt) => attempt,
        Reservation::Refused {
            reason,
            retry_after,
        } => {
            let action = if reason == RefusalReason::BudgetSpent {
                METRICS.guess_budget_refused();
                "login.budget_spent"
            } else {
                "login.locked"
            };
            record_login(ctx, action, counted_as, client).await;
            return Err(OAuthError::LockedOut { retry_after });
        }
    };
    // A username that cannot exist is checked like an unknown one, at the same cost.
    let login = match &username {
        Ok(username) => ctx.store.find_user_login(username).await?,
        Err(_) => None,
    };
    let stored_hash: Option<&PasswordHash> = login.as_ref().map(|l| &l.password_hash);
    let requester = HashRequester {
        address: keys.address().map(str::to_owned),
        still_waiting: ctx.still_waiting.take(),
    };
    let outcome = match ctx
        .hasher
        .verify_for(password.secret(), stored_hash, requester)
        .await
    {
        Ok(outcome) => outcome,
        Err(error) => {
            // Not evaluated: the attempt does not count against anyone.
            ctx.lockout.abandoned(ctx.store, attempt).await?;
            return Err(error.into());
        }
    };
    let matched = matches!(
        outcome,
        VerifyOutcome::Match | VerifyOutcome::MatchRehashed(_)
    );
    let user = match login {
        Some(login) if matched && !login.user.disabled => login.user,
        other => {
            // A disabled account answers exactly like a wrong password, or the answer would
            // confirm the password; the audit trail tells them apart.
            let disabled = matched && other.is_some();
            log::warn!("password grant failed for username {counted_as:?}");
            METRICS.login_failed();
            let action = if disabled {
                "login.disabled"
            } else {
                "login.failed"
            };
            record_login(ctx, action, counted_as, client).await;
            if let Some(seconds) = ctx.lockout.failed(ctx.store, attempt, now).await? {
                log::warn!("login for {counted_as:?} locked for {seconds} s");
                METRICS.locked_out();
                record_login(ctx, "login.lockout", counted_as, client).await;
            }
            return Err(OAuthError::InvalidGrant(
                "invalid username or password".into(),
            ));
        }
    };
    ctx.lockout.succeeded(ctx.store, attempt, now).await?;
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
        Some(start_refresh_family(ctx, client, &user, &scope, now).await?)
    } else {
        None
    };
    record_issuance(ctx, "password", &user.username, client, &scope).await;
    let response = TokenResponse::new(access_token, ctx.tokens.access_ttl(), &scope, refresh_token);
    Ok(response.with_cookie(ctx.device_cookies.issue(keys.user_key(), now)))
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
