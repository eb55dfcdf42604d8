//! Usernames: compared the way people read them, so `Alice`, `ALICE` and `Ａｌｉｃｅ` are one user.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::ParseError;

/// Longest username accepted, in characters after normalisation.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A username normalised with NFKC and lower-cased, 1 to 64 letters, digits, `.`, `_`, `-`, `@`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Normalises and validates a username as typed by a person.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        // Bound the work before normalising: NFKC can expand its input.
        if raw.len() > MAX_USERNAME_CHARS * 4 {
            return Err(ParseError::new(format!(
                "username must be at most {MAX_USERNAME_CHARS} characters"
            )));
        }
        let normalised: String = raw.nfkc().collect::<String>().to_lowercase();
        let length = normalised.chars().count();
        if length == 0 {
            return Err(ParseError::new("username must not be empty"));
        }
        if length > MAX_USERNAME_CHARS {
            return Err(ParseError::new(format!(
                "username must be at most {MAX_USERNAME_CHARS} characters"
            )));
        }
        if let Some(bad) = normalised
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
        {
            return Err(ParseError::new(format!(
                "username may hold only letters, digits, '.', '_', '-' and '@' (found {bad:?})"
            )));
        }
        Ok(Self(normalised))
    }

    /// The normalised form, as stored and compared.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_width_variants_normalise_to_one_username() {
        let plain = Username::parse("alice").unwrap();
        assert_eq!(Username::parse("ALICE").unwrap(), plain);
        assert_eq!(Username::parse("Ａｌｉｃｅ").unwrap(), plain);
    }

    #[test]
    fn allowed_punctuation_is_kept() {
        assert_eq!(Username::parse("a.b_c-d@e").unwrap().as_str(), "a.b_c-d@e");
    }

    #[test]
    fn empty_long_and_odd_usernames_are_refused() {
        assert!(Username::parse("").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert!(Username::parse("alice smith").is_err());
        assert!(Username::parse("alice'--").is_err());
        assert!(Username::parse("al\0ice").is_err());
        assert!(Username::parse(&"x".repeat(10_000)).is_err());
    }
}
