//! Checking a one-time code (a TOTP or a recovery code) of a user whose password is already
//! verified: the one path the login page's second step, the account page and the password
//! grant share, so lockout and audit cannot differ between them.
//!
//! Attempts are reserved before the code is checked and settled after (see
//! `credentials::lockout`), on counters of their own (`otp:<user id>`, and the address's shared
//! throttle): the password's success clears the password counters, and must not clear the
//! count of wrong codes, or whoever knows the password could guess codes without end.

use crate::audit::{AuditEvent, AuditLog};
use crate::credentials::{LockoutPolicy, LoginKeys, RefusalReason, Reservation};
use crate::metrics::METRICS;
use crate::mfa::recovery_codes::recovery_code_hash;
use crate::mfa::totp::{DIGITS, TotpSealer, matching_step};
use crate::store::{Store, StoreError, User};

/// What checking a one-time code needs, borrowed for one attempt.
pub struct OneTimeCodeCheck<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Brute-force limits.
    pub lockout: &'a LockoutPolicy,
    /// Audit trail.
    pub audit: &'a AuditLog,
    /// Opens stored TOTP secrets.
    pub sealer: &'a TotpSealer,
    /// The caller's address.
    pub ip: Option<String>,
    /// The client the sign-in is for, named in the audit trail (empty for the account page).
    pub client_id: &'a str,
    /// Whether the request carries the user's device cookie (`DeviceCookies::vouches_for`):
    /// exempts the attempt from the account's guess budget, as for passwords.
    pub known_device: bool,
}

/// An accepted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneTimeCode {
    /// A TOTP code, of a step not used before.
    Totp,
    /// A recovery code, now used up.
    RecoveryCode {
        /// Recovery codes the user has left.
        left: i64,
    },
}

/// Why a code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OneTimeCodeError {
    /// Wrong, used before, or not a code at all: deliberately one answer.
    #[error("invalid one-time code")]
    Refused,
    /// Too many wrong codes for this user here, from this address, or in total.
    #[error("too many failed attempts; try again in {retry_after} seconds")]
    LockedOut {
        /// Seconds until trying again makes sense.
        retry_after: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl From<OneTimeCodeError> for crate::error::OAuthError {
    fn from(error: OneTimeCodeError) -> Self {
        match error {
            OneTimeCodeError::Refused => Self::InvalidGrant("invalid one-time code".into()),
            OneTimeCodeError::LockedOut { retry_after } => Self::LockedOut {
                retry_after: i64::try_from(retry_after).unwrap_or(i64::MAX),
            },
            OneTimeCodeError::Unavailable(error) => error.into(),
        }
    }
}

impl OneTimeCodeCheck<'_> {
    /// Checks `code` (six digits, or a recovery code) for `user` at time `now`.
    pub async fn check(
        &mut self,
        user: &User,
        code: &str,
        now: i64,
    ) -> Result<OneTimeCode, OneTimeCodeError> {
        let keys = LoginKeys::new(&format!("otp:{}", user.id), self.ip.as_deref());
        // The owner's device or an address they signed in from passes a spent budget, as for
        // passwords; the address is known under the password's counters.
        let password_keys = LoginKeys::new(&user.username, self.ip.as_deref());
        let (store, lockout, known_device) = (self.store, self.lockout, self.known_device);
        let exempt_from_budget = || async {
            if known_device {
                return Ok(true);
            }
            match password_keys.address() {
                Some(address) => {
                    let since = now - lockout.known_address_secs();
                    store
                        .is_known_login_address(password_keys.user_key(), address, since)
                        .await
                }
                None => Ok(false),
            }
        };
        let attempt = match lockout
            .reserve(store, &keys, now, exempt_from_budget)
            .await?
        {
            Reservation::Granted(attempt) => attempt,
            Reservation::Refused {
                reason,
                retry_after,
            } => {
                if reason == RefusalReason::BudgetSpent {
                    METRICS.guess_budget_refused();
                }
                self.record("mfa.locked", user, None).await;
                return Err(OneTimeCodeError::LockedOut {
                    retry_after: u64::try_from(retry_after).unwrap_or(1).max(1),
                });
            }
        };
        let accepted = match self.accept(user, code, now).await {
            Ok(accepted) => accepted,
            Err(error) => {
                lockout.abandoned(store, attempt).await?;
                return Err(error.into());
            }
        };
        match accepted {
            Some(accepted) => {
                lockout.succeeded(store, attempt, now).await?;
                if let OneTimeCode::RecoveryCode { left } = accepted {
                    self.record("mfa.recovery_code_used", user, Some(left.to_string()))
                        .await;
                }
                Ok(accepted)
            }
            None => {
                log::warn!("one-time code refused for username {:?}", user.username);
                METRICS.login_failed();
                self.record("mfa.otp_failed", user, None).await;
                if let Some(seconds) = lockout.failed(store, attempt, now).await? {
                    log::warn!(
                        "one-time codes for {:?} locked for {seconds} s",
                        user.username
                    );
                    METRICS.locked_out();
                    self.record("mfa.lockout", user, None).await;
                }
                Err(OneTimeCodeError::Refused)
            }
        }
    }

    /// The code, if it is accepted (and so used up); `None` when it is not.
    async fn accept(
        &self,
        user: &User,
        code: &str,
        now: i64,
    ) -> Result<Option<OneTimeCode>, StoreError> {
        let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if typed.len() == DIGITS as usize && typed.bytes().all(|b| b.is_ascii_digit()) {
            let Some(credential) = self.store.find_totp(&user.id).await? else {
                return Ok(None);
            };
            let secret = self.sealer.open(&credential.sealed_secret, &user.id)?;
            let Some(step) = matching_step(&secret, &typed, now) else {
                return Ok(None);
            };
            // The conditional update decides: a replay, an older step after a newer one, or
            // the loser of two concurrent submissions gets false.
            let fresh = self.store.accept_totp_step(&user.id, step).await?;
            return Ok(fresh.then_some(OneTimeCode::Totp));
        }
        let Some(hash) = recovery_code_hash(&typed) else {
            return Ok(None);
        };
        if !self.store.use_recovery_code(&user.id, &hash).await? {
            return Ok(None);
        }
        let left = self.store.recovery_codes_left(&user.id).await?;
        Ok(Some(OneTimeCode::RecoveryCode { left }))
    }

    async fn record(&self, action: &'static str, user: &User, detail: Option<String>) {
        let mut event = AuditEvent::new(action)
            .actor(&user.username)
            .ip(self.ip.clone());
        if !self.client_id.is_empty() {
            event = event.client(self.client_id);
        }
        event.detail = detail;
        self.audit.record(event).await;
    }
}
