//! The OpenID scopes (Core sections 5.4 and 11): they belong to no role. Every user may be
//! granted them, bounded like any scope by what the client is registered for.

use crate::domain::ScopeSet;

/// Asks for an OpenID Connect sign-in (an id_token).
pub const OPENID: &str = "openid";
/// Asks for a refresh token that outlives the browser session.
pub const OFFLINE_ACCESS: &str = "offline_access";
/// Every scope OpenID Connect defines that authd supports.
pub const OPENID_SCOPES: [&str; 4] = [OPENID, "profile", "email", OFFLINE_ACCESS];

/// What a user may be granted: the scopes of their roles and the OpenID scopes.
pub fn grantable_to_user(role_scopes: ScopeSet) -> ScopeSet {
    let openid = ScopeSet::from_tokens(&OPENID_SCOPES).expect("the OpenID scopes are valid");
    role_scopes.union(&openid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_without_roles_may_hold_the_openid_scopes_and_nothing_else() {
        let granted = grantable_to_user(ScopeSet::default());
        assert_eq!(granted.to_string(), "email offline_access openid profile");
        let with_role = grantable_to_user(ScopeSet::parse("items:read").unwrap());
        assert!(with_role.contains("items:read") && with_role.contains(OPENID));
    }
}
