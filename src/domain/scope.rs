//! OAuth scopes (RFC 6749 section 3.3): space-delimited, case-sensitive tokens.

use std::collections::BTreeSet;
use std::fmt;

use super::ParseError;

/// Scopes that guard authd's own admin API.
pub const ADMIN_SCOPES: [&str; 7] = [
    "users:read",
    "users:write",
    "roles:read",
    "roles:write",
    "clients:read",
    "clients:write",
    "audit:read",
];

/// One scope token: printable ASCII without space, `"` or `\`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// Validates one scope token.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(format!("invalid scope {raw:?}")))
        }
    }

    /// The scope token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A set of scopes, written sorted and space-delimited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-delimited scope string; an empty string is the empty set.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        raw.split(' ')
            .filter(|token| !token.is_empty())
            .map(Scope::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Builds a set from individual scope tokens (CLI arguments, JSON arrays).
    pub fn from_tokens<S: AsRef<str>>(tokens: &[S]) -> Result<Self, ParseError> {
        tokens
            .iter()
            .map(|token| Scope::parse(token.as_ref()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Whether every scope here is also in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The scopes in either set.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The scopes here that `other` lacks.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    /// This set less the scopes in `other`, reusing this set's allocations (an issuance with
    /// no resource registered keeps its set as it is).
    pub fn without(mut self, other: &ScopeSet) -> ScopeSet {
        if !other.is_empty() {
            self.0.retain(|scope| !other.0.contains(scope));
        }
        self
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

// Serialised as the space-delimited string OAuth writes, and checked again when read back.
impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        ScopeSet::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_strings_round_trip_sorted_and_deduplicated() {
        let set = ScopeSet::parse("b a  b").unwrap();
        assert_eq!(set.to_string(), "a b");
        assert_eq!(ScopeSet::parse("").unwrap(), ScopeSet::default());
    }

    #[test]
    fn scope_tokens_reject_quotes_backslashes_and_control_characters() {
        assert!(Scope::parse("users:read").is_ok());
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("a\nb").is_err());
        assert!(Scope::parse("é").is_err());
    }

    #[test]
    fn subset_and_intersection() {
        let all = ScopeSet::parse("a b c").unwrap();
        let some = ScopeSet::parse("a c").unwrap();
        assert!(some.is_subset(&all));
        assert!(!all.is_subset(&some));
        assert_eq!(all.intersection(&some), some);
        assert_eq!(all.difference(&some).to_string(), "b");
        assert_eq!(all.clone().without(&some), all.difference(&some));
        assert_eq!(all.clone().without(&ScopeSet::default()), all);
        assert_eq!(some.clone().without(&all), ScopeSet::default());
    }
}
