//! Opaque refresh tokens: `<family secret>~<generation>~<secret>`.
//!
//! The family secret is shared by every rotation of one grant and the generation counts the
//! rotations, so the store needs one row per family (see migration 0005): the current token is
//! found by its hash, and any other token that carries the family's secret is an old one, that
//! is, reuse (RFC 9700 section 4.14.2). Only holders of a token of the family know its secret;
//! the database keeps hashes of both parts.

use crate::credentials::{generate_secret, hash_secret};

/// Separates the parts; `~` is URL-unreserved and absent from base64url, and a refresh token
/// must never look like a JWT (two dots).
const SEPARATOR: char = '~';

/// Longest refresh token authd issues, with room to spare; longer input is not one of ours.
pub const MAX_REFRESH_TOKEN_BYTES: usize = 256;

/// A newly minted refresh token and the hashes the store keeps of it.
#[derive(Debug)]
pub struct MintedRefreshToken {
    /// The token to hand to the client.
    pub token: String,
    /// SHA-256 of the whole token.
    pub token_hash: String,
    /// SHA-256 of its family secret.
    pub family_hash: String,
}

/// Mints the first token of a new family.
pub fn mint_new_family() -> MintedRefreshToken {
    mint(&generate_secret(), 0)
}

/// Mints the token of `generation` in the family whose secret is `family_secret`.
pub fn mint(family_secret: &str, generation: i64) -> MintedRefreshToken {
    let token = format!(
        "{family_secret}{SEPARATOR}{generation}{SEPARATOR}{}",
        generate_secret()
    );
    MintedRefreshToken {
        token_hash: hash_secret(&token),
        family_hash: hash_secret(family_secret),
        token,
    }
}

/// The family secret a presented token claims, if it has authd's shape.
pub fn family_secret_of(token: &str) -> Option<&str> {
    if token.len() > MAX_REFRESH_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split(SEPARATOR);
    let (family, generation, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = parts.next().is_none()
        && !family.is_empty()
        && !secret.is_empty()
        && generation.parse::<u64>().is_ok();
    well_formed.then_some(family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_share_the_family_secret_and_nothing_else() {
        let first = mint_new_family();
        let family = family_secret_of(&first.token).unwrap();
        let second = mint(family, 1);
        assert_eq!(first.family_hash, second.family_hash);
        assert_ne!(first.token_hash, second.token_hash);
        assert_eq!(family_secret_of(&second.token), Some(family));
        assert!(second.token.contains("~1~"));
    }

    #[test]
    fn tokens_are_not_mistaken_for_jwts_and_fit_the_length_bound() {
        let minted = mint(&generate_secret(), i64::MAX);
        assert!(!crate::tokens::looks_like_jwt(&minted.token));
        assert!(minted.token.len() <= MAX_REFRESH_TOKEN_BYTES);
    }

    #[test]
    fn malformed_tokens_have_no_family() {
        for token in [
            "", "abc", "a~b~c", "a~1", "~1~x", "a~1~", "a~1~b~c", "a~-1~b",
        ] {
            assert_eq!(family_secret_of(token), None, "{token:?}");
        }
        assert_eq!(family_secret_of(&"a".repeat(300)), None);
    }
}
