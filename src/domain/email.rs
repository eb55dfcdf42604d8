//! Email addresses, checked for shape only (deliverability is not authd's business).

use super::ParseError;

/// Longest address accepted (RFC 5321 path limit).
const MAX_EMAIL_BYTES: usize = 254;

/// Checks `local@domain` with a dotted domain, no spaces or control characters.
pub fn parse_email(raw: &str) -> Result<String, ParseError> {
    let invalid = || ParseError::new(format!("{raw:.64?} is not an email address"));
    if raw.len() > MAX_EMAIL_BYTES || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(invalid());
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_addresses_pass_and_others_do_not() {
        assert!(parse_email("alice@example.com").is_ok());
        assert!(parse_email("a.b+tag@sub.example.org").is_ok());
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "a b@example.com",
            "a@b..c",
            "a@.b.c",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }
}
