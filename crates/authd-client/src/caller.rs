//! Who presented a valid access token, and what it allows.

use crate::actor::Actor;

/// The verified identity behind a request's bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `sub`: the user id, or the client_id for client_credentials tokens.
    pub subject: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// The user's name, on user tokens.
    pub username: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The user's roles at issuance (empty on client tokens).
    pub roles: Vec<String>,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// `jti`, when authd sent it.
    pub token_id: Option<String>,
    /// `acr`: how strong the user's sign-in was ([`ACR_PWD`](crate::ACR_PWD) or
    /// [`ACR_MFA`](crate::ACR_MFA)); `None` on client tokens.
    pub acr: Option<String>,
    /// `amr`: how the user signed in (RFC 8176 values, e.g. `pwd`, `otp`, `mfa`).
    pub amr: Vec<String>,
    /// `auth_time`: when the user signed in, Unix seconds; `None` on client tokens.
    pub auth_time: Option<i64>,
    /// `cnf.jkt`: the thumbprint of the key a DPoP-bound token is bound to (RFC 9449); the
    /// request carried a valid proof signed by that key. `None` for bearer tokens.
    pub dpop_jkt: Option<String>,
    /// `act`: who presented the subject's token to authd in a token exchange (RFC 8693), and
    /// who before them; `None` when the subject itself (or its client) holds the token.
    pub actor: Option<Actor>,
}

impl Caller {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the token's user holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the user signed in at most `max_age` seconds before `now` (Unix seconds);
    /// false when the token does not say when.
    pub fn authenticated_within(&self, max_age: u64, now: i64) -> bool {
        let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
        self.auth_time
            .is_some_and(|auth_time| now.saturating_sub(auth_time) <= max_age)
    }

    /// Splits a space-delimited `scope` claim (RFC 6749 section 3.3).
    pub(crate) fn parse_scopes(scope: &str) -> Vec<String> {
        scope.split_ascii_whitespace().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_split_on_spaces_and_matched_exactly() {
        let caller = Caller {
            subject: "u1".into(),
            client_id: "public".into(),
            username: Some("demo".into()),
            scopes: Caller::parse_scopes(" items:read  items:write "),
            roles: vec!["demo".into()],
            expires_at: 0,
            token_id: None,
            acr: None,
            amr: Vec::new(),
            auth_time: None,
            dpop_jkt: None,
            actor: None,
        };
        assert_eq!(caller.scopes, ["items:read", "items:write"]);
        assert!(caller.has_scope("items:read"));
        assert!(!caller.has_scope("items"));
        assert!(caller.has_role("demo"));
        assert!(!caller.has_role("admin"));
    }

    #[test]
    fn the_authentication_age_counts_from_auth_time_inclusively() {
        let mut caller = Caller {
            subject: "u1".into(),
            client_id: "public".into(),
            username: None,
            scopes: Vec::new(),
            roles: Vec::new(),
            expires_at: 0,
            token_id: None,
            acr: None,
            amr: Vec::new(),
            auth_time: None,
            dpop_jkt: None,
            actor: None,
        };
        assert!(
            !caller.authenticated_within(u64::MAX, 1_000),
            "no auth_time"
        );
        caller.auth_time = Some(1_000);
        assert!(caller.authenticated_within(60, 1_060));
        assert!(!caller.authenticated_within(60, 1_061));
        assert!(caller.authenticated_within(u64::MAX, i64::MAX));
    }
}
