//! How strong a sign-in was. A session and every token from it carry the RFC 8176 methods
//! (`amr`, space-separated in storage) of the sign-in; `acr` is derived from them, so the two
//! can never disagree.

/// A password (RFC 8176 `pwd`).
pub const PWD: &str = "pwd";
/// A one-time code: TOTP or a recovery code (RFC 8176 `otp`).
pub const OTP: &str = "otp";
/// Proof of possession of a key: a passkey (RFC 8176 `pop`).
pub const POP: &str = "pop";
/// More than one factor (RFC 8176 `mfa`).
pub const MFA: &str = "mfa";

/// A sign-in with one factor.
pub const ACR_PWD: &str = "urn:authd:acr:pwd";
/// A sign-in with more than one factor, or a passkey with user verification.
pub const ACR_MFA: &str = "urn:authd:acr:mfa";

/// The methods of a password sign-in.
pub const AMR_PASSWORD: &str = "pwd";
/// The methods of a password and a one-time code.
pub const AMR_PASSWORD_OTP: &str = "pwd otp mfa";
/// The methods of a passkey with user verification: multi-factor on its own.
pub const AMR_PASSKEY: &str = "pop mfa";

/// Whether a sign-in with these methods (space-separated) had more than one factor.
pub fn is_multi_factor(amr: &str) -> bool {
    amr.split_whitespace().any(|method| method == MFA)
}

/// The `acr` of a sign-in with these methods.
pub fn acr_of(amr: &str) -> &'static str {
    if is_multi_factor(amr) {
        ACR_MFA
    } else {
        ACR_PWD
    }
}

/// What `acr_values` asks of a sign-in (OpenID Connect Core 3.1.2.1): values are in order of
/// preference; the first one authd knows decides, and unknown ones are ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AcrRequest {
    /// Nothing beyond what the session has.
    #[default]
    Any,
    /// A multi-factor sign-in.
    MultiFactor,
}

impl AcrRequest {
    /// Reads `acr_values` (space-separated); unknown values ask for nothing.
    pub fn parse(acr_values: &str) -> Self {
        acr_values
            .split_whitespace()
            .find_map(|value| match value {
                ACR_MFA => Some(Self::MultiFactor),
                ACR_PWD => Some(Self::Any),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Whether a sign-in with `amr` satisfies this request.
    pub fn satisfied_by(self, amr: &str) -> bool {
        match self {
            Self::Any => true,
            Self::MultiFactor => is_multi_factor(amr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_follows_the_methods() {
        assert_eq!(acr_of(AMR_PASSWORD), ACR_PWD);
        assert_eq!(acr_of(AMR_PASSWORD_OTP), ACR_MFA);
        assert_eq!(acr_of(AMR_PASSKEY), ACR_MFA);
        assert!(!AcrRequest::parse(ACR_MFA).satisfied_by(AMR_PASSWORD));
        assert!(AcrRequest::parse(&format!("{ACR_PWD} {ACR_MFA}")).satisfied_by(AMR_PASSWORD));
        assert!(!AcrRequest::parse(&format!("urn:other {ACR_MFA}")).satisfied_by(AMR_PASSWORD));
        assert!(AcrRequest::parse("urn:other").satisfied_by(AMR_PASSWORD));
    }
}
