//! The JWS algorithm a client registers for its JWT introspection responses
//! (`introspection_signed_response_alg`, RFC 9701 section 6).

use jsonwebtoken::Algorithm;

use super::{IdTokenAlg, ParseError};

/// `introspection_signed_response_alg`: one of the asymmetric algorithms authd signs with, or
/// the server's default (the algorithm of its access tokens) when the client named none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntrospectionAlg(Option<IdTokenAlg>);

impl IntrospectionAlg {
    /// Parses a JWS algorithm name; empty means the server's default.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.is_empty() {
            return Ok(Self(None));
        }
        IdTokenAlg::parse(raw).map(|alg| Self(Some(alg))).map_err(|_| {
            ParseError::new(format!(
                "introspection_signed_response_alg {raw:.32?} is not supported: use RS256, ES256 or EdDSA"
            ))
        })
    }

    /// The JWS name, `None` for the server's default.
    pub fn as_str(self) -> Option<&'static str> {
        self.0.map(IdTokenAlg::as_str)
    }

    /// As stored: `''` for the server's default.
    pub fn stored(self) -> &'static str {
        self.as_str().unwrap_or("")
    }

    /// The algorithm the client asked for; `None` for the server's default.
    pub fn algorithm(self) -> Option<Algorithm> {
        self.0.map(IdTokenAlg::algorithm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_server_default_and_only_asymmetric_algorithms_are_named() {
        assert_eq!(
            IntrospectionAlg::parse("").unwrap(),
            IntrospectionAlg::default()
        );
        assert_eq!(IntrospectionAlg::parse("").unwrap().stored(), "");
        // Unlike id_tokens, RS256 is stored by name: the default here is the server's.
        assert_eq!(IntrospectionAlg::parse("RS256").unwrap().stored(), "RS256");
        assert_eq!(
            IntrospectionAlg::parse("EdDSA").unwrap().algorithm(),
            Some(Algorithm::EdDSA)
        );
        for bad in ["HS256", "none", "es256"] {
            let error = IntrospectionAlg::parse(bad).unwrap_err();
            assert!(
                error.0.contains("introspection_signed_response_alg"),
                "{error}"
            );
        }
    }
}
