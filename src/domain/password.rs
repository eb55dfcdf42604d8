//! Passwords: held as secrets from the moment they are read, bounded so argon2's input is bounded.

use secrecy::{ExposeSecret, SecretString};

use super::ParseError;

/// Longest password accepted, in bytes; argon2 input stays bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest new password, in characters (NIST SP 800-63B section 5.1.1.2).
pub const MIN_NEW_PASSWORD_CHARS: usize = 8;

/// A password presented at login: any non-empty string up to 1024 bytes.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// Accepts a login password.
    pub fn parse(raw: SecretString) -> Result<Self, ParseError> {
        let length = raw.expose_secret().len();
        if length == 0 {
            return Err(ParseError::new("password must not be empty"));
        }
        if length > MAX_PASSWORD_BYTES {
            return Err(ParseError::new(format!(
                "password must be at most {MAX_PASSWORD_BYTES} bytes"
            )));
        }
        Ok(Self(raw))
    }

    /// The secret itself, for the hasher.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// A password being set: the login bounds plus the NIST minimum length, no composition rules.
#[derive(Debug)]
pub struct NewPassword(Password);

impl NewPassword {
    /// Accepts a password for a new or changed account.
    pub fn parse(raw: SecretString) -> Result<Self, ParseError> {
        let password = Password::parse(raw)?;
        let chars = password.0.expose_secret().chars().count();
        if chars < MIN_NEW_PASSWORD_CHARS {
            return Err(ParseError::new(format!(
                "password must be at least {MIN_NEW_PASSWORD_CHARS} characters"
            )));
        }
        Ok(Self(password))
    }

    /// The secret itself, for the hasher.
    pub fn secret(&self) -> &SecretString {
        self.0.secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn login_password_bounds() {
        assert!(Password::parse(secret("")).is_err());
        assert!(Password::parse(secret("x")).is_ok());
        assert!(Password::parse(secret(&"x".repeat(1024))).is_ok());
        assert!(Password::parse(secret(&"x".repeat(1025))).is_err());
    }

    #[test]
    fn new_password_needs_eight_characters_and_nothing_else() {
        assert!(NewPassword::parse(secret("short")).is_err());
        assert!(NewPassword::parse(secret("all lower case words")).is_ok());
        assert!(NewPassword::parse(secret("ééééééé")).is_err());
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let shown = format!("{:?}", Password::parse(secret("hunter22")).unwrap());
        assert!(!shown.contains("hunter22"), "{shown}");
    }
}
