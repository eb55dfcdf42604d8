//! The name a person gives a passkey ("Laptop", "Phone").

/// Longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A passkey name: trimmed, 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    /// Parses a name as typed; `Err` says what is wrong.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("a passkey needs a name");
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err("a passkey name has at most 64 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("a passkey name cannot hold control characters");
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_short_and_printable() {
        assert_eq!(PasskeyName::parse("  Laptop ").unwrap().as_str(), "Laptop");
        assert!(PasskeyName::parse("   ").is_err());
        assert!(PasskeyName::parse(&"x".repeat(65)).is_err());
        assert!(PasskeyName::parse(&"é".repeat(64)).is_ok());
        assert!(PasskeyName::parse("a\u{0}b").is_err());
    }
}
