//! What a client registers for OpenID Connect logout and id_tokens: its Back-Channel Logout URI
//! and the algorithm its id_tokens (and logout tokens) are signed with.

use jsonwebtoken::Algorithm;

use super::ParseError;
use super::redirect_uri::{absolute_without_fragment, is_loopback};

/// Where authd POSTs a client's logout tokens: absolute http(s), no fragment, https unless the
/// host is a loopback one (Back-Channel Logout 1.0 section 2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackchannelLogoutUri(String);

impl BackchannelLogoutUri {
    /// Validates a URI for registration.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let refuse = |why: &str| {
            Err(ParseError::new(format!(
                "backchannel_logout_uri {raw:.64?}: {why}"
            )))
        };
        let url = match absolute_without_fragment(raw) {
            Ok(url) => url,
            Err(why) => return refuse(why),
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return refuse("must use https (http only for loopback addresses)"),
            _ => return refuse("must be an http or https URI"),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("must not contain user information");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The JWS algorithm of a client's id_tokens (`id_token_signed_response_alg`). RS256 unless the
/// client asks otherwise: OpenID Connect Discovery requires it and many relying parties accept
/// nothing else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdTokenAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, the default.
    #[default]
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl IdTokenAlg {
    /// Parses a JWS algorithm name; empty means the default.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        match raw {
            "" | "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(ParseError::new(format!(
                "id_token_signed_response_alg {other:.32?} is not supported: use RS256, ES256 or EdDSA"
            ))),
        }
    }

    /// The JWS name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// As stored: the default is stored as `''`, so a later change of default reaches it.
    pub fn stored(self) -> &'static str {
        match self {
            Self::Rs256 => "",
            other => other.as_str(),
        }
    }

    /// The algorithm for `jsonwebtoken`.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backchannel_uris_are_https_except_on_loopback() {
        for good in [
            "https://rp.example.com/logout",
            "http://127.0.0.1:8080/bc",
            "http://localhost/bc",
            "http://[::1]:9/bc",
            "https://rp.example.com/bc?x=1",
        ] {
            assert!(BackchannelLogoutUri::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "http://rp.example.com/bc",
            "https://rp.example.com/bc#frag",
            "/relative",
            "com.example.app:/bc",
            "https://user:pw@rp.example.com/bc",
            "https://rp.example.com/a b",
            "",
        ] {
            assert!(BackchannelLogoutUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn id_token_algorithms_are_the_three_offered_and_rs256_is_stored_empty() {
        assert_eq!(IdTokenAlg::parse("").unwrap(), IdTokenAlg::Rs256);
        assert_eq!(IdTokenAlg::parse("RS256").unwrap().stored(), "");
        assert_eq!(IdTokenAlg::parse("ES256").unwrap().stored(), "ES256");
        assert_eq!(
            IdTokenAlg::parse("EdDSA").unwrap().algorithm(),
            Algorithm::EdDSA
        );
        for bad in ["HS256", "none", "rs256", "PS256"] {
            let error = IdTokenAlg::parse(bad).unwrap_err();
            assert!(error.0.contains("RS256, ES256 or EdDSA"), "{error}");
        }
    }
}
