//! Recovery codes: ten per user, each 20 base32 characters (100 random bits, so a plain SHA-256
//! is a safe hash and an attempt costs no argon2), shown once as `xxxx-xxxx-xxxx-xxxx-xxxx`.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::credentials::hash_secret;
use crate::mfa::totp::base32_encode;

/// Codes generated at once.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Base32 characters in a code (5 bits each).
const CODE_CHARS: usize = 20;

/// Ten new codes, formatted for display, and their stored hashes (same order).
pub fn generate_recovery_codes() -> (Vec<String>, Vec<String>) {
    let random = SystemRandom::new();
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            // 13 bytes give 104 bits; the first 20 characters carry 100 of them.
            let mut bytes = [0u8; 13];
            random
                .fill(&mut bytes)
                .expect("the operating system's random source failed");
            let plain: String = base32_encode(&bytes).chars().take(CODE_CHARS).collect();
            let shown = plain
                .as_bytes()
                .chunks(4)
                .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("-");
            (shown, hash_secret(&plain))
        })
        .unzip()
}

/// The stored hash of a typed recovery code (dashes, spaces and case ignored); `None` when it
/// cannot be one.
pub fn recovery_code_hash(typed: &str) -> Option<String> {
    let plain: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = plain.len() == CODE_CHARS
        && plain
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    valid.then(|| hash_secret(&plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_distinct_and_match_their_hashes_however_typed() {
        let (shown, hashes) = generate_recovery_codes();
        assert_eq!(shown.len(), RECOVERY_CODE_COUNT);
        let distinct: std::collections::HashSet<_> = shown.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODE_COUNT);
        for (code, hash) in shown.iter().zip(&hashes) {
            assert_eq!(code.len(), 24);
            assert_eq!(code.matches('-').count(), 4);
            assert_eq!(recovery_code_hash(code).as_ref(), Some(hash));
            let sloppy = format!(" {} ", code.replace('-', " ").to_lowercase());
            assert_eq!(recovery_code_hash(&sloppy).as_ref(), Some(hash));
        }
        assert_eq!(recovery_code_hash("123456"), None);
        assert_eq!(recovery_code_hash("AAAA-AAAA-AAAA-AAAA-AAA1"), None);
    }
}
