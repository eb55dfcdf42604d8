//! DPoP-bound access tokens (RFC 9449): checking the proof that accompanies one.

pub mod proof;
pub mod replay;

use actix_web::HttpRequest;
use serde::Deserialize;
use url::Url;

use crate::config::Config;
use crate::error::AuthError;
use crate::introspect::unix_now_ms;
use proof::Expected;
use replay::{Replay, ReplayCache};

pub use proof::ALGORITHMS;

/// The `cnf` claim (RFC 7800) of a token or introspection answer.
#[derive(Debug, Deserialize)]
pub(crate) struct Confirmation {
    #[serde(default)]
    pub(crate) jkt: Option<String>,
}

/// Checks the `DPoP` header of requests whose token is bound to a key.
pub struct DpopVerifier {
    public_url: Option<Url>,
    max_age: i64,
    leeway: i64,
    replay: ReplayCache,
}

impl DpopVerifier {
    /// Builds the verifier for `config` (already validated).
    pub fn new(config: &Config) -> Self {
        Self {
            public_url: config.parsed_public_url(),
            max_age: i64::try_from(config.dpop_max_age.as_secs()).unwrap_or(i64::MAX / 4),
            leeway: i64::try_from(config.dpop_leeway_secs).unwrap_or(i64::MAX / 4),
            replay: ReplayCache::new(config.dpop_replay_capacity),
        }
    }

    /// Accepts `req` only if it carries exactly one valid, unused proof for `token`, signed by
    /// the key with thumbprint `jkt` (RFC 9449 sections 4.3 and 7.1).
    pub fn verify(&self, req: &HttpRequest, token: &str, jkt: &str) -> Result<(), AuthError> {
        let Some(public_url) = &self.public_url else {
            log::error!(
                "a DPoP-bound token arrived but no public URL is configured \
                 (Config::public_url): refusing it"
            );
            return Err(AuthError::Misconfigured);
        };
        let mut proofs = req.headers().get_all("dpop");
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return Err(AuthError::InvalidDpopProof(
                "exactly one DPoP header is required",
            ));
        };
        let proof = proof
            .to_str()
            .map_err(|_| AuthError::InvalidDpopProof("the DPoP proof is not a compact JWS"))?;
        let url = request_url(public_url, req.path());
        let now = unix_now_ms() / 1000;
        let expected = Expected {
            method: req.method().as_str(),
            url: &url,
            token,
            jkt,
            now,
            max_age: self.max_age,
            leeway: self.leeway,
        };
        let accepted = proof::check(proof, &expected).map_err(AuthError::InvalidDpopProof)?;
        // Step 12: a proof is single use.
        match self
            .replay
            .check_and_record(jkt, &accepted.jti, accepted.usable_until, now)
        {
            Replay::Fresh => Ok(()),
            Replay::Seen => Err(AuthError::InvalidDpopProof(
                "the DPoP proof was already used",
            )),
            Replay::Full => {
                log::warn!(
                    "the DPoP replay cache is full of unexpired proofs; refusing new ones \
                     until some expire (Config::dpop_replay_capacity)"
                );
                Err(AuthError::Unavailable)
            }
        }
    }
}

/// This service's external URL for `path`: the public base URL with the path appended.
fn request_url(public_url: &Url, path: &str) -> Url {
    let mut url = public_url.clone();
    url.set_path(&format!(
        "{}{path}",
        public_url.path().trim_end_matches('/')
    ));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_url_appends_the_path_to_the_public_base() {
        let base = Url::parse("https://api.example.com").unwrap();
        assert_eq!(
            request_url(&base, "/items").as_str(),
            "https://api.example.com/items"
        );
        let prefixed = Url::parse("https://example.com/items-service/").unwrap();
        assert_eq!(
            request_url(&prefixed, "/items/3").as_str(),
            "https://example.com/items-service/items/3"
        );
    }
}
