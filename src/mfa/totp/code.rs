//! The code arithmetic of RFC 6238 over RFC 4226: HMAC-SHA-1 of the step counter, dynamic
//! truncation, 6 decimal digits.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

use super::TotpSecret;

/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Seconds per step.
pub const PERIOD_SECS: i64 = 30;
/// Steps of clock drift accepted either way (RFC 6238 section 5.2 recommends one).
pub const DRIFT_STEPS: i64 = 1;

/// The step that Unix time `now` falls in.
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(PERIOD_SECS)
}

/// The code of `secret` for `step`, zero-padded to six digits.
pub fn code_at_step(secret: &TotpSecret, step: i64) -> String {
    // SHA-1 is what every authenticator app implements; as an HMAC it is not weakened by SHA-1
    // collisions (RFC 4226 appendix B.2).
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = hmac::sign(&key, &(step as u64).to_be_bytes());
    let digest = tag.as_ref();
    // RFC 4226 section 5.3: dynamic truncation.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 10u32.pow(DIGITS))
}

/// The step within the drift window around `now` whose code is `code`, the oldest if several
/// match. Every step of the window is computed and compared in constant time, so the answer's
/// timing says nothing about which one matched.
pub fn matching_step(secret: &TotpSecret, code: &str, now: i64) -> Option<i64> {
    let current = step_at(now);
    let mut matched = None;
    for step in (current - DRIFT_STEPS..=current + DRIFT_STEPS).rev() {
        let expected = code_at_step(secret, step);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            matched = Some(step);
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn matches_the_rfc_6238_sha1_test_vectors() {
        // RFC 6238 appendix B (8 digits there; the last six are the 6-digit code).
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, code) in vectors {
            assert_eq!(code_at_step(&rfc_secret(), step_at(time)), code[2..]);
        }
    }

    #[test]
    fn one_step_of_drift_either_way_is_accepted() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        for drift in -1..=1 {
            let code = code_at_step(&secret, step_at(now) + drift);
            assert_eq!(
                matching_step(&secret, &code, now),
                Some(step_at(now) + drift)
            );
        }
        for drift in [-2, 2] {
            let code = code_at_step(&secret, step_at(now) + drift);
            assert_eq!(matching_step(&secret, &code, now), None);
        }
        assert_eq!(matching_step(&secret, "12345", now), None);
    }
}
