//! Delegation of admin scopes: only a holder of each admin scope may grant it, or act on a
//! user, role or client that holds it.

use std::fmt;

use super::{ADMIN_SCOPES, ScopeSet};

/// Who makes an admin change.
#[derive(Debug, Clone)]
pub enum Authority {
    /// The operator at the command line: unrestricted, and able to repair any state.
    Operator,
    /// A caller of the admin API.
    Caller {
        /// The scopes of the caller's access token.
        scopes: ScopeSet,
        /// The user behind the token; `None` for a client_credentials token.
        user_id: Option<String>,
    },
}

/// Why an admin change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The change grants, or touches a holder of, admin scopes the caller lacks.
    #[error("{what} {missing}, which this token lacks; only a holder of every one may do this")]
    MissingScopes {
        /// What holds or grants the scopes, e.g. `user root holds`.
        what: String,
        /// The admin scopes the caller lacks.
        missing: ScopeSet,
    },
    /// The change would leave no enabled user holding every admin scope.
    #[error(
        "this would leave no enabled user holding every admin scope; \
         make another user a full admin first (the CLI can always repair)"
    )]
    LastFullAdmin,
}

/// The admin scopes among `scopes`.
pub fn admin_scopes(scopes: &ScopeSet) -> ScopeSet {
    scopes
        .iter()
        .filter(|scope| ADMIN_SCOPES.contains(&scope.as_str()))
        .cloned()
        .collect()
}

/// Refuses unless `held` covers every admin scope in `scopes`; `held` is `None` for the operator.
/// `what` names where `scopes` come from, as in "role admin grants".
pub fn require_admin_scopes(
    held: Option<&ScopeSet>,
    scopes: &ScopeSet,
    what: impl fmt::Display,
) -> Result<(), Refusal> {
    let Some(held) = held else { return Ok(()) };
    let missing = admin_scopes(scopes).difference(held);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Refusal::MissingScopes {
            what: what.to_string(),
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(raw: &str) -> ScopeSet {
        ScopeSet::parse(raw).unwrap()
    }

    #[test]
    fn only_missing_admin_scopes_refuse() {
        let held = set("users:write items:read");
        let asked = set("users:write roles:write items:write openid introspect");
        let refusal = require_admin_scopes(Some(&held), &asked, "role x grants").unwrap_err();
        assert_eq!(
            refusal,
            Refusal::MissingScopes {
                what: "role x grants".into(),
                missing: set("roles:write"),
            }
        );
        assert!(
            refusal
                .to_string()
                .starts_with("role x grants roles:write, which")
        );
        assert!(require_admin_scopes(Some(&held), &set("users:write openid"), "x").is_ok());
        assert!(require_admin_scopes(Some(&ScopeSet::default()), &set("a b"), "x").is_ok());
    }

    #[test]
    fn the_operator_is_never_refused() {
        let everything = ScopeSet::from_tokens(&ADMIN_SCOPES).unwrap();
        assert!(require_admin_scopes(None, &everything, "x").is_ok());
    }

    #[test]
    fn admin_scopes_are_the_seven_of_the_admin_api() {
        assert_eq!(
            admin_scopes(&set("openid users:read x audit:read")).to_string(),
            "audit:read users:read"
        );
    }
}
