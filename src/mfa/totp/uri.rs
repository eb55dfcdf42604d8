//! The `otpauth://` URI of an enrolment (the Key Uri Format authenticator apps read from a QR
//! code).

use super::{DIGITS, PERIOD_SECS, TotpSecret};

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `otpauth://totp/<issuer>:<username>?secret=..&issuer=..&algorithm=SHA1&digits=6&period=30`.
pub fn otpauth_uri(issuer: &str, username: &str, secret: &TotpSecret) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        encode(issuer),
        encode(username),
        secret.to_base32(),
        encode(issuer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_and_issuer_are_percent_encoded() {
        let secret = TotpSecret::from_bytes(&[0; 20]).unwrap();
        assert_eq!(
            otpauth_uri("My authd", "a@b", &secret),
            "otpauth://totp/My%20authd:a%40b?secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
             &issuer=My%20authd&algorithm=SHA1&digits=6&period=30"
        );
    }
}
