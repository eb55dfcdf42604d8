//! User codes (RFC 8628 section 6.1): eight letters a person reads off a device and types into
//! `/device`, from an alphabet without vowels (no words) and without look-alikes.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::credentials::hash_secret;

/// Section 6.1's base-20 alphabet: consonants only.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Characters in a user code: 20^8 ≈ 2.56e10 codes.
pub const LENGTH: usize = 8;

/// A well-formed user code, normalised: eight upper-case letters of `ALPHABET`.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    /// A fresh random code. Bytes of 240 and above are drawn again, so each letter is uniform.
    pub fn generate() -> Self {
        let random = SystemRandom::new();
        let mut code = String::with_capacity(LENGTH);
        let mut bytes = [0u8; 16];
        while code.len() < LENGTH {
            random
                .fill(&mut bytes)
                .expect("the operating system's random source failed");
            for byte in bytes {
                if code.len() < LENGTH && byte < 240 {
                    code.push(ALPHABET[usize::from(byte % 20)] as char);
                }
            }
        }
        Self(code)
    }

    /// What a person typed: any case, with or without the dash (and spaces) a code is shown with.
    pub fn parse(typed: &str) -> Option<Self> {
        let code: String = typed
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let well_formed = code.len() == LENGTH && code.bytes().all(|byte| ALPHABET.contains(&byte));
        well_formed.then_some(Self(code))
    }

    /// The eight letters, as `verification_uri_complete` carries them.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `XXXX-XXXX`, as the device shows it.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }

    /// SHA-256 (hex), as stored and looked up: the index lookup's timing depends on the hash,
    /// never on how many leading letters of a guess were right.
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

// A live user code approves a device: it stays out of logs.
impl fmt::Debug for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserCode(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_use_the_alphabet_and_differ() {
        let a = UserCode::generate();
        let b = UserCode::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), LENGTH);
        assert!(a.as_str().bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(UserCode::parse(a.as_str()), Some(a));
    }

    #[test]
    fn typing_is_forgiving_about_case_and_the_dash() {
        let code = UserCode::parse("WDJB-MJHT").unwrap();
        assert_eq!(code.as_str(), "WDJBMJHT");
        assert_eq!(code.display(), "WDJB-MJHT");
        for typed in ["wdjbmjht", "wdjb-mjht", " WdJb mJhT ", "WDJBMJHT"] {
            assert_eq!(UserCode::parse(typed), Some(code.clone()), "{typed}");
        }
        assert_eq!(code.hash(), UserCode::parse("wdjbmjht").unwrap().hash());
    }

    #[test]
    fn vowels_digits_and_wrong_lengths_are_refused() {
        for typed in [
            "",
            "WDJBMJH",
            "WDJBMJHTB",
            "WDJBMJHA",
            "WDJB1JHT",
            "WDJB_MJHT",
            "ÄDJBMJHT",
        ] {
            assert_eq!(UserCode::parse(typed), None, "{typed}");
        }
    }

    #[test]
    fn debug_hides_the_code() {
        let code = UserCode::parse("WDJBMJHT").unwrap();
        assert!(!format!("{code:?}").contains("WDJB"));
    }
}
