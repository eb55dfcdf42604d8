//! The OAuth 2.0 grant types authd issues tokens for.

use std::fmt;

use super::ParseError;

/// A grant type (RFC 6749 sections 4.3, 4.4 and 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    /// Resource owner password credentials.
    Password,
    /// A confidential client acting on its own behalf.
    ClientCredentials,
    /// Exchanging a refresh token for new tokens.
    RefreshToken,
    /// Exchanging an authorization code from `/authorize` (RFC 6749 section 4.1).
    AuthorizationCode,
    /// Exchanging a user's token for one addressed elsewhere (RFC 8693).
    TokenExchange,
}

impl GrantType {
    /// Every grant type, in the order metadata lists them.
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::Password,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
        GrantType::TokenExchange,
    ];

    /// Parses the wire name, or the short alias of a URN-named grant (as the CLI takes it).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|grant| grant.as_str() == raw || grant.alias() == Some(raw))
            .ok_or_else(|| ParseError::new(format!("unsupported grant type {raw:?}")))
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::Password => "password",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// A short name for a grant whose wire name is a URN.
    pub fn alias(self) -> Option<&'static str> {
        match self {
            GrantType::TokenExchange => Some("token-exchange"),
            _ => None,
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()).unwrap(), grant);
        }
        assert!(GrantType::parse("implicit").is_err());
        assert!(GrantType::parse("Password").is_err());
    }

    #[test]
    fn token_exchange_parses_from_its_urn_and_its_alias() {
        let urn = "urn:ietf:params:oauth:grant-type:token-exchange";
        assert_eq!(GrantType::parse(urn).unwrap(), GrantType::TokenExchange);
        assert_eq!(
            GrantType::parse("token-exchange").unwrap(),
            GrantType::TokenExchange
        );
        assert_eq!(GrantType::TokenExchange.as_str(), urn);
        assert!(GrantType::parse("token_exchange").is_err());
    }
}
