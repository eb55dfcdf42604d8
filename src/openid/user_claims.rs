//! Standard claims about a user (Core section 5.1), released by scope (section 5.4): nothing
//! more than the granted scopes allow.

use serde::Serialize;

use crate::domain::ScopeSet;
use crate::store::User;

/// The claims a token's scopes release, shared by id_tokens and `/userinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserClaims {
    /// `profile`: the full name, when the user has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `profile`: the username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `email`: the address, when the user has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email`: always false: authd does not verify addresses (yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's roles, as access tokens carry them.
    pub roles: Vec<String>,
}

impl UserClaims {
    /// The claims `scope` releases about `user`.
    pub fn of(user: &User, scope: &ScopeSet) -> Self {
        let profile = scope.contains("profile");
        let email = scope.contains("email") && user.email.is_some();
        Self {
            name: user.full_name.clone().filter(|_| profile),
            preferred_username: profile.then(|| user.username.clone()),
            email: user.email.clone().filter(|_| email),
            email_verified: email.then_some(false),
            roles: user.roles.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::PasswordScheme;

    fn user() -> User {
        User {
            id: "u1".into(),
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            full_name: Some("Alice Liddell".into()),
            disabled: false,
            password_scheme: PasswordScheme::Argon2id,
            roles: vec!["staff".into()],
            token_generation: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn each_scope_releases_only_its_own_claims() {
        let openid = UserClaims::of(&user(), &ScopeSet::parse("openid").unwrap());
        assert_eq!(openid.name, None);
        assert_eq!(openid.email, None);
        assert_eq!(openid.roles, ["staff"]);
        let profile = UserClaims::of(&user(), &ScopeSet::parse("openid profile").unwrap());
        assert_eq!(profile.name.as_deref(), Some("Alice Liddell"));
        assert_eq!(profile.preferred_username.as_deref(), Some("alice"));
        assert_eq!(profile.email, None);
        let email = UserClaims::of(&user(), &ScopeSet::parse("openid email").unwrap());
        assert_eq!(email.email.as_deref(), Some("alice@example.com"));
        assert_eq!(email.email_verified, Some(false));
        assert_eq!(email.name, None);
    }

    #[test]
    fn a_user_without_an_address_gets_no_email_claims() {
        let mut user = user();
        user.email = None;
        let claims = UserClaims::of(&user, &ScopeSet::parse("openid email").unwrap());
        assert_eq!((claims.email, claims.email_verified), (None, None));
    }
}
