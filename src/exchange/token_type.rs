//! Token type identifiers (RFC 8693 section 3).

use crate::domain::ParseError;

/// A token type authd exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// An authd access token (`at+jwt`).
    AccessToken,
    /// An authd id_token.
    IdToken,
    /// Some JWT: which kind the token's `typ` header says (an access token is `at+jwt`, an
    /// id_token `JWT`), so a token still verifies only as the one kind it is.
    Jwt,
}

impl TokenType {
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub const ACCESS_TOKEN: &'static str = "urn:ietf:params:oauth:token-type:access_token";
    /// `urn:ietf:params:oauth:token-type:id_token`.
    pub const ID_TOKEN: &'static str = "urn:ietf:params:oauth:token-type:id_token";
    /// `urn:ietf:params:oauth:token-type:jwt`.
    pub const JWT: &'static str = "urn:ietf:params:oauth:token-type:jwt";

    /// Parses an identifier; refresh tokens, SAML assertions and anything else are unsupported.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        match raw {
            Self::ACCESS_TOKEN => Ok(Self::AccessToken),
            Self::ID_TOKEN => Ok(Self::IdToken),
            Self::JWT => Ok(Self::Jwt),
            other => Err(ParseError::new(format!(
                "token type {other:.128?} is not supported: use {} or {} (or {})",
                Self::ACCESS_TOKEN,
                Self::ID_TOKEN,
                Self::JWT
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_jwt_kinds_parse() {
        assert_eq!(
            TokenType::parse(TokenType::ACCESS_TOKEN).unwrap(),
            TokenType::AccessToken
        );
        assert_eq!(
            TokenType::parse(TokenType::ID_TOKEN).unwrap(),
            TokenType::IdToken
        );
        assert_eq!(TokenType::parse(TokenType::JWT).unwrap(), TokenType::Jwt);
        for unsupported in [
            "urn:ietf:params:oauth:token-type:refresh_token",
            "urn:ietf:params:oauth:token-type:saml2",
            "access_token",
            "",
        ] {
            assert!(TokenType::parse(unsupported).is_err(), "{unsupported}");
        }
    }
}
