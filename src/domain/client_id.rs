//! OAuth client identifiers.

use std::fmt;

use super::ParseError;

/// A client_id: 1 to 128 characters of ASCII letters, digits, `.`, `_`, `~`, `:` and `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// Validates a client_id.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let valid = !raw.is_empty()
            && raw.len() <= 128
            && raw.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b':' | b'-')
            });
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(
                "client_id must be 1 to 128 ASCII letters, digits, '.', '_', '~', ':' or '-'",
            ))
        }
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_bounded_url_safe_strings() {
        assert!(ClientId::parse("svc-1.example:prod").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a b").is_err());
        assert!(ClientId::parse(&"a".repeat(129)).is_err());
    }
}
