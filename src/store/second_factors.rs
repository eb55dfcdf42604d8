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

/// What decides the password grant's second factor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PasswordGrantFactors {
    /// A confirmed TOTP authenticator: the grant needs `otp`.
    pub totp: bool,
    /// At least one passkey, which `/token` cannot check.
    pub passkey: bool,
    /// A role of the user demands a second factor.
    pub role_requires_mfa: bool,
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

    /// What the password grant must know after the right password, in one statement (a grant's
    /// statements are CPU that argon2 does not get): the user's factors and whether a role of
    /// theirs demands one.
    pub async fn password_grant_factors(
        &self,
        user_id: &str,
    ) -> Result<PasswordGrantFactors, StoreError> {
        let (totp, passkey, role_requires_mfa): (bool, bool, bool) = with_pool!(self, pool =>
            sqlx::query_as(
                r"select
                    exists (select 1 from totp_credentials where user_id = $1),
                    exists (select 1 from passkeys where user_id = $1),
                    exists (select 1 from user_roles ur join roles r on r.name = ur.role_name
                            where ur.user_id = $1 and r.require_mfa)",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await)?;
        Ok(PasswordGrantFactors {
            totp,
            passkey,
            role_requires_mfa,
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
