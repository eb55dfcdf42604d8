//! A relying-party library nobody here wrote (the `openidconnect` crate, with its own RSA, ECDSA
//! and Ed25519 verifiers) configured from the discovery URL alone: the code flow with PKCE, a
//! strictly validated id_token (signature, iss, aud, nonce, at_hash, expiry) and userinfo.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::openid_connect::{PASSWORD, openid_client_named, seed_alice};
use crate::signin_support::{Browser, WebClient, location, param};

async fn a_relying_party_library_signs_in_from_the_discovery_url_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = seed_alice(&app).await;
    let admin = app.admin_token().await;
    // One client per id_token algorithm authd offers; RS256 is the default.
    for (client_id, alg, expected) in [
        (
            "photos",
            None,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ),
        (
            "maps",
            Some("ES256"),
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ),
        ("notes", Some("EdDSA"), CoreJwsSigningAlgorithm::EdDsa),
    ] {
        let registered = openid_client_named(&app, client_id).await;
        if let Some(alg) = alg {
            let patched = reqwest::Client::new()
                .patch(app.url(&format!("/admin/clients/{client_id}")))
                .bearer_auth(&admin)
                .json(&serde_json::json!({ "id_token_signed_response_alg": alg }))
                .send()
                .await
                .unwrap();
            assert_eq!(patched.status(), 200);
        }
        sign_in_through_the_library(&app, &registered, expected, &alice.id).await;
    }
}

/// The whole relying-party side, as the library does it; the id_token must be signed with
/// `expected`.
async fn sign_in_through_the_library(
    app: &TestApp,
    registered: &WebClient,
    expected: CoreJwsSigningAlgorithm,
    user_id: &str,
) {
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(registered.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    // A person signs in through authd's pages.
    let browser = Browser::new();
    let to = location(&browser.get(url.as_str()).await);
    assert_eq!(to, "/login");
    let to = location(&browser.sign_in(app, "alice", PASSWORD).await);
    assert!(to.starts_with(&registered.redirect_uri), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some(csrf.secret().as_str()));
    let code = param(&to, "code").unwrap();

    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = response.id_token().expect("an id_token");
    let id_token_verifier = client
        .id_token_verifier()
        .set_allowed_algs([expected.clone()]);
    assert_eq!(*id_token.signing_alg().unwrap(), expected);
    let claims = id_token
        .claims(&id_token_verifier, &nonce)
        .expect("a valid id_token");
    assert_eq!(claims.subject().as_str(), user_id);
    assert_eq!(
        claims.preferred_username().map(|name| name.as_str()),
        Some("alice")
    );
    assert_eq!(
        claims.email().map(|email| email.as_str()),
        Some("alice@example.test")
    );
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual_hash = AccessTokenHash::from_token(
        response.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_token_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(*expected_hash, actual_hash);
    // A different nonce must fail: the library really checks it.
    assert!(
        id_token
            .claims(&id_token_verifier, &Nonce::new("another".into()))
            .is_err()
    );

    let userinfo: CoreUserInfoClaims = client
        .user_info(
            response.access_token().to_owned(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject().as_str(), user_id);
    assert_eq!(
        userinfo.email().map(|email| email.as_str()),
        Some("alice@example.test")
    );
}

backend_tests!(a_relying_party_library_signs_in_from_the_discovery_url_alone);
