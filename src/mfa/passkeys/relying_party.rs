//! The WebAuthn relying party, built once at start from `webauthn.*` and the issuer.

use std::time::Duration;

use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::config::WebauthnSettings;

/// Builds the relying party. `Ok(None)` when nothing is configured and the issuer's host is an
/// IP address: WebAuthn needs a domain (a local trial on 127.0.0.1 runs without passkeys).
pub fn relying_party(
    settings: &WebauthnSettings,
    issuer: &str,
    product_name: &str,
) -> anyhow::Result<Option<Webauthn>> {
    let issuer_url = Url::parse(issuer).map_err(|e| anyhow::anyhow!("tokens.issuer: {e}"))?;
    let configured = settings.rp_id.is_some() || !settings.origins.is_empty();
    let rp_id = match (&settings.rp_id, issuer_url.domain()) {
        (Some(rp_id), _) => rp_id.clone(),
        (None, Some(domain)) => domain.to_owned(),
        (None, None) if !configured => return Ok(None),
        (None, None) => anyhow::bail!(
            "webauthn.rp_id: the issuer's host is not a domain, so set webauthn.rp_id as well"
        ),
    };
    let origins = if settings.origins.is_empty() {
        vec![Url::parse(&issuer_url.origin().ascii_serialization())?]
    } else {
        settings
            .origins
            .iter()
            .map(|origin| {
                Url::parse(origin).map_err(|e| anyhow::anyhow!("webauthn.origins: {origin}: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    for origin in &origins {
        let host_fits = origin
            .domain()
            .is_some_and(|host| host == rp_id || host.ends_with(&format!(".{rp_id}")));
        if !host_fits {
            anyhow::bail!(
                "webauthn.origins: {origin} is not on {rp_id} (webauthn.rp_id) or a subdomain of it"
            );
        }
    }
    let mut builder = WebauthnBuilder::new(&rp_id, &origins[0])
        .map_err(|e| anyhow::anyhow!("webauthn.rp_id {rp_id}: {e}"))?
        .rp_name(product_name)
        .timeout(Duration::from_secs(settings.ceremony_ttl_secs));
    for origin in &origins[1..] {
        builder = builder.append_allowed_origin(origin);
    }
    let built = builder
        .build()
        .map_err(|e| anyhow::anyhow!("webauthn: {e}"))?;
    Ok(Some(built))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_follows_the_issuer_unless_configured() {
        let settings = WebauthnSettings::default();
        assert!(
            relying_party(&settings, "https://auth.example.com", "authd")
                .unwrap()
                .is_some()
        );
        // No domain, nothing configured: passkeys are off, start-up goes on.
        assert!(
            relying_party(&settings, "http://127.0.0.1:8080", "authd")
                .unwrap()
                .is_none()
        );
        let proxied = WebauthnSettings {
            rp_id: Some("localhost".into()),
            origins: vec!["http://localhost:8080".into()],
            ..WebauthnSettings::default()
        };
        assert!(
            relying_party(&proxied, "http://127.0.0.1:8080", "authd")
                .unwrap()
                .is_some()
        );
        let elsewhere = WebauthnSettings {
            rp_id: Some("example.com".into()),
            origins: vec!["https://example.org".into()],
            ..WebauthnSettings::default()
        };
        let error = relying_party(&elsewhere, "https://example.com", "authd").unwrap_err();
        assert!(error.to_string().contains("webauthn.origins"), "{error}");
    }
}
