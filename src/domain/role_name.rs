//! Role names.

use std::fmt;

use super::ParseError;

/// A role name: 1 to 64 ASCII letters, digits, `.`, `_`, `:` or `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    /// Validates a role name.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(format!(
                "role name {raw:?} must be 1 to 64 ASCII letters, digits, '.', '_', ':' or '-'"
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_bounded_identifiers() {
        assert!(RoleName::parse("admin").is_ok());
        assert!(RoleName::parse("team:ops-1").is_ok());
        assert!(RoleName::parse("").is_err());
        assert!(RoleName::parse("drop table;").is_err());
    }
}
