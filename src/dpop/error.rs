//! Why a DPoP proof was not accepted.

/// A refused proof. `/token` answers 400 and protected resources 401 (RFC 9449 sections 5, 7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// The proof is missing, malformed, or fails a check of section 4.3: `invalid_dpop_proof`.
    #[error("{0}")]
    InvalidProof(&'static str),
    /// The proof carries no current server nonce (section 8): `use_dpop_nonce`, with the nonce
    /// to retry with.
    #[error("a DPoP nonce from the server is required")]
    UseNonce {
        /// The current nonce, for the `DPoP-Nonce` header.
        nonce: String,
    },
}
