//! Signing keys: JWKS, metadata, algorithms, rotation and pruning.

use std::time::{Duration, Instant};

use authd::config::SigningAlgorithm;
use authd::tokens::KeyManager;
use secrecy::SecretString;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

async fn jwks(app: &TestApp) -> Value {
    app.http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Polls `check` until it holds or `limit` passes; returns whether it held.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn the_jwks_publishes_the_signing_key_with_kid_use_and_alg(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;

    let response = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let body: Value = response.json().await.unwrap();
    let key = &body["keys"][0];
    assert_eq!(
        key["kid"].as_str().unwrap(),
        kid_of(token["access_token"].as_str().unwrap())
    );
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["kty"], "OKP");
    assert!(key.get("d").is_none(), "private key material in the JWKS");
}

async fn metadata_lists_endpoints_grants_and_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;

    let body: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let issuer = app.issuer();
    assert_eq!(body["issuer"], issuer.as_str());
    assert_eq!(body["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(
        body["introspection_endpoint"],
        format!("{issuer}/introspect")
    );
    assert_eq!(body["revocation_endpoint"], format!("{issuer}/revoke"));
    assert_eq!(body["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    let grants = body["grant_types_supported"].as_array().unwrap();
    assert_eq!(grants.len(), 4);
    assert!(grants.contains(&serde_json::json!("authorization_code")));
    assert_eq!(
        body["authorization_endpoint"],
        format!("{issuer}/authorize")
    );
    assert_eq!(
        body["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        body["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(body["authorization_response_iss_parameter_supported"], true);
    let scopes: Vec<&str> = body["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for scope in [
        "items:read",
        "items:write",
        "users:read",
        "clients:write",
        "introspect",
    ] {
        assert!(scopes.contains(&scope), "{scope} missing from {scopes:?}");
    }
    assert!(body["response_types_supported"].is_array());
}

async fn an_immediate_rotation_signs_new_tokens_with_the_new_key_and_old_ones_keep_verifying(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let before = app.password_token("alice", password).await;
    let old_token = before["access_token"].as_str().unwrap().to_owned();
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();

    let rotated = manager.rotate(true).await.unwrap();

    let switched = eventually(Duration::from_secs(2), || async {
        let token = app.password_token("alice", password).await;
        kid_of(token["access_token"].as_str().unwrap()) == rotated.kid
    })
    .await;
    assert!(
        switched,
        "the running instance did not pick up the rotation within 2 s"
    );
    assert_eq!(app.introspect(&old_token).await["active"], true);
    let published = kids(&jwks(&app).await);
    assert!(published.contains(&rotated.kid) && published.contains(&kid_of(&old_token)));
}

async fn a_delayed_rotation_publishes_the_key_before_it_signs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();

    let rotated = manager.rotate(false).await.unwrap();

    let published = eventually(Duration::from_secs(2), || async {
        kids(&jwks(&app).await).contains(&rotated.kid)
    })
    .await;
    assert!(published, "the pending key was not published within 2 s");
    let token = app.password_token("alice", password).await;
    assert_ne!(kid_of(token["access_token"].as_str().unwrap()), rotated.kid);
    assert_eq!(rotated.state.as_str(), "pending");
}

async fn retired_keys_are_pruned_once_their_tokens_have_expired(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tokens.access_ttl_secs = 1).await;
    let old_kid = kids(&jwks(&app).await)[0].clone();
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();

    let rotated = manager.rotate(true).await.unwrap();

    let pruned = eventually(Duration::from_secs(5), || async {
        kids(&jwks(&app).await) == vec![rotated.kid.clone()]
    })
    .await;
    assert!(pruned, "old key {old_kid} still published");
}

async fn every_asymmetric_algorithm_issues_tokens_that_verify(backend: Backend) {
    for (algorithm, kty) in [
        (SigningAlgorithm::ES256, "EC"),
        (SigningAlgorithm::RS256, "RSA"),
    ] {
        let app = TestApp::spawn_with(backend, |s| s.tokens.algorithm = algorithm).await;
        let token = app.password_token("alice", app.seed_alice().await).await;

        let introspection = app
            .introspect(token["access_token"].as_str().unwrap())
            .await;

        assert_eq!(introspection["active"], true, "{algorithm:?}");
        let keys = jwks(&app).await;
        assert_eq!(keys["keys"][0]["kty"], kty);
        assert_eq!(keys["keys"][0]["alg"], format!("{algorithm:?}"));
    }
}

async fn hs256_works_with_a_configured_secret_and_publishes_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.tokens.algorithm = SigningAlgorithm::HS256;
        s.tokens.hs256_secret = Some(SecretString::from(
            "0123456789abcdef0123456789abcdef".to_owned(),
        ));
    })
    .await;
    let token = app.password_token("alice", app.seed_alice().await).await;

    let introspection = app
        .introspect(token["access_token"].as_str().unwrap())
        .await;

    assert_eq!(introspection["active"], true);
    assert_eq!(jwks(&app).await["keys"], serde_json::json!([]));
    let header = jsonwebtoken::decode_header(token["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
}

backend_tests!(
    the_jwks_publishes_the_signing_key_with_kid_use_and_alg,
    metadata_lists_endpoints_grants_and_scopes,
    an_immediate_rotation_signs_new_tokens_with_the_new_key_and_old_ones_keep_verifying,
    a_delayed_rotation_publishes_the_key_before_it_signs,
    retired_keys_are_pruned_once_their_tokens_have_expired,
    every_asymmetric_algorithm_issues_tokens_that_verify,
    hs256_works_with_a_configured_secret_and_publishes_nothing,
);
