//! The successor of a rotation, sealed for a retry: a client that lost the response to a
//! refresh presents the exchanged token again and gets the same successor (see migration 0016).
//!
//! Only the seal is stored, under the page keys (AES-256-GCM, derived from the key-encryption
//! key) and bound to its family, so neither a database reader nor a row moved to another family
//! learns a usable token.

use crate::signin::PageKeys;

/// Binds a sealed successor to its use and its family.
fn purpose(family_id: &str) -> String {
    format!("refresh successor v1 {family_id}")
}

/// `successor` (a refresh token of `family_id`) sealed for the family's row.
pub fn seal_successor(keys: &PageKeys, family_id: &str, successor: &str) -> Option<String> {
    keys.seal(&purpose(family_id), successor.as_bytes())
}

/// The successor sealed in `family_id`'s row; `None` if it was sealed for another family or
/// under another key.
pub fn open_successor(keys: &PageKeys, family_id: &str, sealed: &str) -> Option<String> {
    String::from_utf8(keys.open(&purpose(family_id), sealed)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PageKeys {
        let prk = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"t").extract(b"k");
        PageKeys::derive(&prk).unwrap()
    }

    #[test]
    fn a_sealed_successor_opens_only_for_its_family() {
        let keys = keys();
        let sealed = seal_successor(&keys, "family-a", "secret~1~token").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(
            open_successor(&keys, "family-a", &sealed).as_deref(),
            Some("secret~1~token")
        );
        assert_eq!(open_successor(&keys, "family-b", &sealed), None);
    }
}
