//! Signing in with a username and password: the one path that the password grant and the login
//! page share, so lockout, timing and audit can never differ between them.

use crate::audit::{AuditEvent, AuditLog};
use crate::credentials::{
    DeviceCookies, HashRequester, LockoutPolicy, LoginKeys, PasswordHash, PasswordHasher,
    RefusalReason, Reservation, StillWaiting, VerifyOutcome,
};
use crate::domain::{Password, Username};
use crate::error::OAuthError;
use crate::metrics::METRICS;
use crate::store::{Store, User};

/// What checking a password needs, borrowed for one attempt.
pub struct PasswordCheck<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Password hashing.
    pub hasher: &'a PasswordHasher,
    /// Brute-force limits.
    pub lockout: &'a LockoutPolicy,
    /// Audit trail.
    pub audit: &'a AuditLog,
    /// Issues and checks device cookies.
    pub device_cookies: &'a DeviceCookies,
    /// The caller's address.
    pub ip: Option<String>,
    /// Whether the caller is still connected (taken by the one password check).
    pub still_waiting: Option<StillWaiting>,
    /// The request's `Cookie` header (for a device cookie).
    pub cookie_header: Option<String>,
    /// The client the sign-in is for, named in the audit trail.
    pub client_id: &'a str,
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    /// The user, enabled, whose password matched.
    pub user: User,
    /// A `Set-Cookie` value marking this browser as a device of the user.
    pub device_cookie: Option<String>,
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password or disabled account: deliberately one answer.
    #[error("invalid username or password")]
    Refused,
    /// Too many failures for this username here, from this address, or in total.
    #[error("too many failed logins; try again in {retry_after} seconds")]
    LockedOut {
        /// Seconds until the lock ends.
        retry_after: i64,
    },
    /// Hashing is saturated, the database is down, or a bug.
    #[error(transparent)]
    Unavailable(#[from] OAuthError),
}

impl From<crate::store::StoreError> for SignInError {
    fn from(error: crate::store::StoreError) -> Self {
        SignInError::Unavailable(error.into())
    }
}

impl From<SignInError> for OAuthError {
    fn from(error: SignInError) -> Self {
        match error {
            SignInError::Refused => OAuthError::InvalidGrant("invalid username or password".into()),
            SignInError::LockedOut { retry_after } => OAuthError::LockedOut { retry_after },
            SignInError::Unavailable(error) => error,
        }
    }
}

impl PasswordCheck<'_> {
    /// Checks `password` for `raw_username` (already length-checked) at time `now`.
    pub async fn sign_in(
        &mut self,
        raw_username: &str,
        password: &Password,
        now: i64,
    ) -> Result<SignedIn, SignInError> {
        let username = Username::parse(raw_username);
        let counted_as = username.as_ref().map_or(raw_username, |u| u.as_str());
        let keys = LoginKeys::new(counted_as, self.ip.as_deref());
        // The attempt is counted before argon2 runs: a locked pair, a throttled address or a
        // spent guess budget is refused without hashing, even with the right password.
        let known_device =
            self.device_cookies
                .vouches_for(self.cookie_header.as_deref(), keys.user_key(), now);
        let store = self.store;
        let lockout = self.lockout;
        let exempt_from_budget = || async {
            if known_device {
                return Ok(true);
            }
            match keys.address() {
                Some(address) => {
                    let since = now - lockout.known_address_secs();
                    store
                        .is_known_login_address(keys.user_key(), address, since)
                        .await
                }
                None => Ok(false),
            }
        };
        let reservation = lockout
            .reserve(store, &keys, now, exempt_from_budget)
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
                self.record(action, counted_as).await;
                return Err(SignInError::LockedOut { retry_after });
            }
        };
        // A username that cannot exist is checked like an unknown one, at the same cost.
        let login = match &username {
            Ok(username) => store.find_user_login(username).await?,
            Err(_) => None,
        };
        let stored_hash: Option<&PasswordHash> = login.as_ref().map(|l| &l.password_hash);
        let requester = HashRequester {
            address: keys.address().map(str::to_owned),
            still_waiting: self.still_waiting.take(),
        };
        let outcome = match self
            .hasher
            .verify_for(password.secret(), stored_hash, requester)
            .await
        {
            Ok(outcome) => outcome,
            Err(error) => {
                // Not evaluated: the attempt does not count against anyone.
                lockout.abandoned(store, attempt).await?;
                return Err(SignInError::Unavailable(error.into()));
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
                log::warn!("sign-in failed for username {counted_as:?}");
                METRICS.login_failed();
                let action = if disabled {
                    "login.disabled"
                } else {
                    "login.failed"
                };
                self.record(action, counted_as).await;
                if let Some(seconds) = lockout.failed(store, attempt, now).await? {
                    log::warn!("login for {counted_as:?} locked for {seconds} s");
                    METRICS.locked_out();
                    self.record("login.lockout", counted_as).await;
                }
                return Err(SignInError::Refused);
            }
        };
        lockout.succeeded(store, attempt, now).await?;
        self.record("login.succeeded", &user.username).await;
        if let VerifyOutcome::MatchRehashed(phc) = outcome {
            let upgraded = PasswordHash::from_stored(phc);
            if let Err(error) = store.upgrade_password_hash(&user.id, &upgraded).await {
                log::warn!(
                    "could not upgrade the password hash of {}: {error}",
                    user.username
                );
            }
        }
        Ok(SignedIn {
            device_cookie: self.device_cookies.issue(keys.user_key(), now),
            user,
        })
    }

    async fn record(&self, action: &'static str, username: &str) {
        let event = AuditEvent::new(action)
            .actor(username)
            .client(self.client_id)
            .ip(self.ip.clone());
        self.audit.record(event).await;
    }
}
