//! Which second factors a user holds, and whether their roles demand one. The factors' own
//! queries live beside their features (TOTP, recovery codes, passkeys).

use super::{Store, StoreError, with_pool};

/// A user's second factors, as the admin API and the sign-in flow see them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SecondFactors {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// Registered passkeys.
    pub passkeys: i64,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

impl SecondFactors {
    /// Whether a password alone no longer signs this user in.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

impl Store {
    /// The second factors `user_id` holds (all zero for an unknown user).
    pub async fn second_factors(&self, user_id: &str) -> Result<SecondFactors, StoreError> {
        let (totp, passkeys, recovery_codes_left): (i64, i64, i64) = with_pool!(self, pool =>
            sqlx::query_as(
                r"select
                    (select count(*) from totp_credentials where user_id = $1),
                    (select count(*) from passkeys where user_id = $1),
                    (select count(*) from recovery_codes where user_id = $1)",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await)?;
        Ok(SecondFactors {
            totp: totp > 0,
            passkeys,
            recovery_codes_left,
        })
    }

    /// Whether any role of `user_id` demands a second factor.
    pub async fn user_requires_mfa(&self, user_id: &str) -> Result<bool, StoreError> {
        let required: Option<String> = with_pool!(self, pool =>
            sqlx::query_scalar(
                r"select r.name from user_roles ur join roles r on r.name = ur.role_name
                  where ur.user_id = $1 and r.require_mfa limit 1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await)?;
        Ok(required.is_some())
    }
}
