//! Resource indicators (RFC 8707): the URI of an API a token is meant for.

use std::fmt;

use super::ParseError;
use super::redirect_uri::absolute_without_fragment;

/// Most resources one client may be allowed, and one request may name.
pub const MAX_RESOURCES: usize = 32;

/// An absolute URI without a fragment (RFC 8707 section 2), compared exactly as registered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceUri(String);

impl ResourceUri {
    /// Parses a resource indicator.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        absolute_without_fragment(raw)
            .map_err(|why| ParseError::new(format!("resource {raw:.128?}: {why}")))?;
        Ok(Self(raw.to_owned()))
    }

    /// Parses a list (at most `MAX_RESOURCES`), sorted, without duplicates.
    pub fn parse_list<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Self>, ParseError> {
        let mut list = raw
            .iter()
            .map(|uri| Self::parse(uri.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        list.sort();
        list.dedup();
        if list.len() > MAX_RESOURCES {
            return Err(ParseError::new(format!(
                "at most {MAX_RESOURCES} resources are allowed"
            )));
        }
        Ok(list)
    }

    /// The URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ResourceUri {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_uris_without_fragments_are_resources() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/v1?tenant=a",
            "urn:example:items",
        ] {
            assert_eq!(ResourceUri::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "/relative",
            "api.example.com",
            "https://api.example.com/#frag",
            "https://api.example.com/ x",
        ] {
            assert!(ResourceUri::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_are_sorted_deduplicated_and_bounded() {
        let list = ResourceUri::parse_list(&["https://b", "https://a", "https://b"]).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].as_str(), "https://a");
        let many: Vec<String> = (0..=MAX_RESOURCES)
            .map(|i| format!("https://r{i}"))
            .collect();
        assert!(ResourceUri::parse_list(&many).is_err());
    }
}
