//! Which resources a token request may name (RFC 8707 section 2).

use crate::domain::{ResourceUri, ScopeSet};
use crate::error::OAuthError;
use crate::tokens::Audience;

/// What one access token is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// Its scopes.
    pub scope: ScopeSet,
    /// Its `aud`.
    pub audience: Audience,
}

/// The resources `requested` names, each of which must be among `allowed` (the client's, or what
/// the grant being exchanged covers); `None` when it names none.
// Section 2: a resource that is malformed or not allowed is `invalid_target`.
pub fn requested_target(
    requested: &[String],
    allowed: &[ResourceUri],
) -> Result<Option<Vec<ResourceUri>>, OAuthError> {
    if requested.is_empty() {
        return Ok(None);
    }
    let target =
        ResourceUri::parse_list(requested).map_err(|e| OAuthError::InvalidTarget(e.to_string()))?;
    if let Some(refused) = target.iter().find(|uri| !allowed.contains(uri)) {
        return Err(OAuthError::InvalidTarget(format!(
            "resource {:.128} is not allowed here",
            refused.as_str()
        )));
    }
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_well_formed_resources_pass() {
        let allowed = vec![ResourceUri::parse("https://items").unwrap()];
        assert_eq!(requested_target(&[], &allowed).unwrap(), None);
        let asked = vec!["https://items".to_owned()];
        assert_eq!(
            requested_target(&asked, &allowed).unwrap(),
            Some(allowed.clone())
        );
        for bad in ["https://billing", "relative", "https://items#x"] {
            let error = requested_target(&[bad.to_owned()], &allowed).unwrap_err();
            assert!(matches!(error, OAuthError::InvalidTarget(_)), "{bad}");
        }
    }
}
