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
    /// Polling with a device code (RFC 8628 section 3.4).
    DeviceCode,
    /// Exchanging a user's token for one addressed elsewhere (RFC 8693).
    TokenExchange,
}

impl GrantType {
    /// Every grant type, in the order metadata lists them.
    pub const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::Password,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
        GrantType::DeviceCode,
        GrantType::TokenExchange,
    ];

    /// Parses the wire name (all `/token` and stored clients accept).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|grant| grant.as_str() == raw)
            .ok_or_else(|| ParseError::new(format!("unsupported grant type {raw:?}")))
    }

    /// Parses the wire name or the short alias an operator types for a URN-named grant
    /// (`device_code`, `token-exchange`); never used on `/token`, where only wire names count.
    pub fn parse_alias(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|grant| grant.alias() == Some(raw))
            .map_or_else(|| Self::parse(raw), Ok)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::Password => "password",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// A short name for a grant whose wire name is a URN.
    pub fn alias(self) -> Option<&'static str> {
        match self {
            GrantType::DeviceCode => Some("device_code"),
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
    fn the_device_code_alias_parses_to_the_urn() {
        let grant = GrantType::parse_alias("device_code").unwrap();
        assert_eq!(grant, GrantType::DeviceCode);
        assert_eq!(
            grant.as_str(),
            "urn:ietf:params:oauth:grant-type:device_code"
        );
        assert!(GrantType::parse("device_code").is_err());
        assert_eq!(
            GrantType::parse_alias("password").unwrap(),
            GrantType::Password
        );
    }

    #[test]
    fn token_exchange_parses_from_its_urn_and_its_alias() {
        let urn = "urn:ietf:params:oauth:grant-type:token-exchange";
        assert_eq!(GrantType::parse(urn).unwrap(), GrantType::TokenExchange);
        assert_eq!(
            GrantType::parse_alias("token-exchange").unwrap(),
            GrantType::TokenExchange
        );
        assert_eq!(GrantType::TokenExchange.as_str(), urn);
        assert!(GrantType::parse("token-exchange").is_err());
        assert!(GrantType::parse_alias("token_exchange").is_err());
    }
}
