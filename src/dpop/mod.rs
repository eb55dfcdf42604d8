//! DPoP (RFC 9449): proofs that a client holds a private key, checked at `/token` (which then
//! binds the tokens it issues to that key) and at authd's own protected resources (which then
//! accept a bound token only with a proof from its key).
//!
//! A proof costs one signature verification. Replays are refused at `/token` across instances
//! (`store::dpop_proofs`) and at protected resources per instance (`replay`), both for the
//! proof window only.

mod error;
mod htu;
mod jwk;
mod nonce;
mod nonce_header;
mod proof;
mod replay;
mod resource;

use actix_web::HttpRequest;
use aws_lc_rs::hkdf;

pub use error::DpopError;
pub use jwk::sha256_base64url;
pub use nonce_header::{nonce_to_offer, offer_nonce};
pub use proof::VerifiedProof;
pub use resource::{Scheme, confirm_presentation, invalid_token};

use crate::clock::MAX_CLOCK_SKEW_SECS;
use crate::config::DpopSettings;
use nonce::NonceKeys;
use proof::{Expected, verify_proof};
use replay::{ReplayRefusal, ResourceReplay};

/// The proof algorithms accepted, as discovery and `WWW-Authenticate` name them.
pub const SIGNING_ALGS: [&str; 3] = ["ES256", "EdDSA", "RS256"];

/// The request header carrying a proof.
pub const PROOF_HEADER: &str = "dpop";

/// The response header carrying a server nonce (section 8).
pub const NONCE_HEADER: &str = "DPoP-Nonce";

/// The `token_type` of bound tokens (section 5).
pub const TOKEN_TYPE: &str = "DPoP";

/// Checks proofs for this server.
pub struct Dpop {
    base: String,
    max_age: i64,
    leeway: i64,
    require_nonce: bool,
    nonces: NonceKeys,
    replay: ResourceReplay,
}

impl std::fmt::Debug for Dpop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dpop")
            .field("base", &self.base)
            .field("require_nonce", &self.require_nonce)
            .finish_non_exhaustive()
    }
}

impl Dpop {
    /// Checks proofs for requests to `issuer` (the externally visible scheme, host, port and
    /// path prefix, as discovery advertises the endpoints under it); nonces are derived from
    /// `secret` (the page secret, shared by every instance).
    pub fn new(settings: &DpopSettings, issuer: &str, secret: &hkdf::Prk) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(issuer).map_err(|e| anyhow::anyhow!("tokens.issuer: {e}"))?;
        // Endpoints are `{issuer}{path}`: a proxy in front strips the issuer's path, if any.
        let base = format!(
            "{}{}",
            parsed.origin().ascii_serialization(),
            parsed.path().trim_end_matches('/')
        );
        Ok(Self {
            base,
            max_age: i64::try_from(settings.proof_max_age_secs).unwrap_or(3600),
            leeway: i64::try_from(settings.iat_leeway_secs).unwrap_or(0),
            require_nonce: settings.require_nonce,
            nonces: NonceKeys::derive(secret, settings.nonce_rotation_secs)?,
            // The longest an accepted proof stays acceptable: its age, a future iat, and
            // another instance's clock.
            replay: ResourceReplay::new(
                settings.resource_replay_entries,
                i64::try_from(settings.proof_max_age_secs)
                    .unwrap_or(3600)
                    .saturating_add(i64::try_from(settings.iat_leeway_secs).unwrap_or(0))
                    .saturating_add(MAX_CLOCK_SKEW_SECS),
            ),
        })
    }

    /// Forgets the resource proofs recorded that are past their window (see `ResourceReplay`).
    pub fn forget_expired_proofs(&self, now: i64) {
        self.replay.forget_expired(now);
    }

    /// The nonce to send in `DPoP-Nonce`, when nonces are required.
    pub fn nonce(&self, now: i64) -> Option<String> {
        self.require_nonce.then(|| self.nonces.current(now))
    }

    /// The proof of a `/token` request, if it sent one, checked (except for replay, which the
    /// grant records once its credentials checked out: `store::record_dpop_proof`).
    pub fn check_token_request(
        &self,
        request: &HttpRequest,
        now: i64,
    ) -> Result<Option<VerifiedProof>, DpopError> {
        match proof_header(request)? {
            None => Ok(None),
            Some(proof) => self.check(request, proof, None, now).map(Some),
        }
    }

    /// The proof that must come with an access token presented as `DPoP` (section 7.1).
    pub fn check_resource_request(
        &self,
        request: &HttpRequest,
        access_token: &str,
        now: i64,
    ) -> Result<VerifiedProof, DpopError> {
        let proof = proof_header(request)?.ok_or(DpopError::InvalidProof(
            "a DPoP-bound access token needs a DPoP proof",
        ))?;
        self.check(request, proof, Some(access_token), now)
    }

    /// Records a resource request's proof (after its token was found bound to its key), so
    /// that it is not accepted again at this instance.
    pub fn remember_resource_proof(
        &self,
        proof: &VerifiedProof,
        now: i64,
    ) -> Result<(), DpopError> {
        self.replay
            .record(&proof.replay_key, now)
            .map_err(|refusal| {
                DpopError::InvalidProof(match refusal {
                    ReplayRefusal::Replayed => "the DPoP proof was used before",
                    ReplayRefusal::Full => "too many DPoP proofs at once; try again shortly",
                })
            })
    }

    fn check(
        &self,
        request: &HttpRequest,
        proof: &str,
        access_token: Option<&str>,
        now: i64,
    ) -> Result<VerifiedProof, DpopError> {
        let uri = htu::normalize(&format!("{}{}", self.base, request.path())).ok_or(
            DpopError::InvalidProof("the request URI cannot be compared"),
        )?;
        let expected = Expected {
            method: request.method().as_str(),
            uri: &uri,
            now,
            max_age: self.max_age,
            leeway: self.leeway,
            access_token,
        };
        let verified = verify_proof(proof, &expected)?;
        // Section 8: a proof without the current nonce is answered with one to retry with.
        if self.require_nonce
            && !verified
                .nonce
                .as_deref()
                .is_some_and(|nonce| self.nonces.accepts(nonce, now))
        {
            return Err(DpopError::UseNonce {
                nonce: self.nonces.current(now),
            });
        }
        Ok(verified)
    }
}

/// Until when a proof's replay must be refused: its window, plus the clock skew another
/// instance may have.
pub fn replay_expiry(proof: &VerifiedProof) -> i64 {
    proof.expires_at.saturating_add(MAX_CLOCK_SKEW_SECS)
}

/// The one `DPoP` header of a request, if any (section 4.3 check 1: never two).
fn proof_header(request: &HttpRequest) -> Result<Option<&str>, DpopError> {
    let mut values = request.headers().get_all(PROOF_HEADER);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(DpopError::InvalidProof("only one DPoP header may be sent"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| DpopError::InvalidProof("the DPoP header is not a JWT"))
}

/// `WWW-Authenticate` for a refused DPoP request at a protected resource (section 7.1).
pub fn challenge(error: Option<&str>, description: Option<&str>) -> String {
    let mut challenge = format!("DPoP algs=\"{}\"", SIGNING_ALGS.join(" "));
    if let Some(error) = error {
        challenge.push_str(&format!(", error=\"{error}\""));
    }
    if let Some(description) = description {
        challenge.push_str(&format!(", error_description=\"{description}\""));
    }
    challenge
}
