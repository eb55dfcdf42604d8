//! Signing keys: JWKS, metadata, algorithms, rotation and pruning.

use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use authd::clock::unix_now;
use authd::config::SigningAlgorithm;
use authd::store::Store;
use authd::tokens::{KeyManager, KeyState, KeySummary, SigningKey};
use jsonwebtoken::Algorithm;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDatabase, test_settings};

/// Every algorithm with a key lineage, in metadata order.
const OFFERED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

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

/// The published key of `alg`, when exactly one is published.
fn only_key_of<'a>(jwks: &'a Value, alg: &str) -> &'a Value {
    let keys: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == alg)
        .collect();
    assert_eq!(keys.len(), 1, "{alg} keys in {jwks}");
    keys[0]
}

/// The new key of `alg` among those a rotation returned.
fn rotated_of(rotated: &[KeySummary], alg: Algorithm) -> &KeySummary {
    rotated.iter().find(|k| k.algorithm == alg).unwrap()
}

/// The kid of each algorithm's active key, as `manager` last loaded them.
fn active_kids(manager: &KeyManager) -> Vec<(Algorithm, String)> {
    OFFERED
        .iter()
        .map(|alg| (*alg, manager.signing_key_for(*alg).unwrap().kid.clone()))
        .collect()
}

/// An access token for `sub` signed by `key`, as authd would sign it.
fn access_token_signed_by(app: &TestApp, key: &SigningKey, sub: &str) -> String {
    let now = unix_now();
    let claims = json!({
        "iss": app.issuer(), "sub": sub, "aud": app.issuer(), "exp": now + 300, "iat": now,
        "nbf": now, "jti": uuid::Uuid::new_v4().to_string(), "client_id": "public",
        "scope": "items:read",
    });
    let mut header = jsonwebtoken::Header::new(key.algorithm);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
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

async fn the_jwks_publishes_one_key_per_algorithm_with_kid_use_and_alg(backend: Backend) {
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
    assert_eq!(body["keys"].as_array().unwrap().len(), 3, "{body}");
    for (alg, kty) in [("RS256", "RSA"), ("ES256", "EC"), ("EdDSA", "OKP")] {
        let key = only_key_of(&body, alg);
        assert_eq!(key["kty"], kty);
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "private {private} in the JWKS");
        }
    }
    // Access tokens keep tokens.algorithm (EdDSA by default).
    assert_eq!(
        only_key_of(&body, "EdDSA")["kid"].as_str().unwrap(),
        kid_of(token["access_token"].as_str().unwrap())
    );
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
    assert_eq!(grants.len(), 5);
    assert!(grants.contains(&serde_json::json!("authorization_code")));
    assert!(grants.contains(&serde_json::json!(
        "urn:ietf:params:oauth:grant-type:token-exchange"
    )));
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
    let old_kids = kids(&jwks(&app).await);
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();

    let rotated = manager.rotate(None, true).await.unwrap();

    let algorithms: BTreeSet<String> = rotated
        .iter()
        .map(|k| format!("{:?}", k.algorithm))
        .collect();
    assert_eq!(
        algorithms.len(),
        3,
        "one new key per algorithm: {rotated:?}"
    );
    let access_kid = rotated_of(&rotated, Algorithm::EdDSA).kid.clone();
    let switched = eventually(Duration::from_secs(2), || async {
        let token = app.password_token("alice", password).await;
        kid_of(token["access_token"].as_str().unwrap()) == access_kid
    })
    .await;
    assert!(
        switched,
        "the running instance did not pick up the rotation within 2 s"
    );
    assert_eq!(app.introspect(&old_token).await["active"], true);
    let published = kids(&jwks(&app).await);
    assert_eq!(published.len(), 6, "{published:?}");
    for kid in rotated.iter().map(|k| &k.kid).chain(&old_kids) {
        assert!(published.contains(kid), "{kid} not in {published:?}");
    }
}

async fn a_delayed_rotation_publishes_the_key_before_it_signs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();

    let rotated = manager.rotate(None, false).await.unwrap();

    assert_eq!(rotated.len(), 3);
    let published = eventually(Duration::from_secs(2), || async {
        let published = kids(&jwks(&app).await);
        rotated.iter().all(|k| published.contains(&k.kid))
    })
    .await;
    assert!(published, "the pending keys were not published within 2 s");
    let token = app.password_token("alice", password).await;
    let kid = kid_of(token["access_token"].as_str().unwrap());
    assert!(
        rotated
            .iter()
            .all(|k| k.kid != kid && k.state == KeyState::Pending)
    );
}

async fn rotating_one_algorithm_leaves_the_others_untouched(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();
    let before = active_kids(&manager);

    let rotated = manager.rotate(Some(Algorithm::RS256), true).await.unwrap();

    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].algorithm, Algorithm::RS256);
    assert_eq!(rotated[0].state, KeyState::Active);
    let after = active_kids(&manager);
    assert_eq!(after[0], (Algorithm::RS256, rotated[0].kid.clone()));
    assert_eq!(after[1..], before[1..], "ES256 and EdDSA must not change");
    let states: Vec<(String, KeyState)> = manager
        .summaries()
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect();
    assert!(states.contains(&(before[0].1.clone(), KeyState::Retired)));
    assert_eq!(states.len(), 4, "{states:?}");
    let published = eventually(Duration::from_secs(2), || async {
        kids(&jwks(&app).await).contains(&rotated[0].kid)
    })
    .await;
    assert!(published, "the new RS256 key was not published within 2 s");
}

async fn retired_keys_are_pruned_once_their_tokens_have_expired(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.tokens.access_ttl_secs = 1;
        s.tokens.id_token_ttl_secs = 1;
    })
    .await;
    let old_kids = kids(&jwks(&app).await);
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();

    let rotated = manager.rotate(None, true).await.unwrap();

    // The app's own reloader prunes them once no token they signed can be alive.
    let new_kids: BTreeSet<String> = rotated.into_iter().map(|k| k.kid).collect();
    let pruned = eventually(Duration::from_secs(5), || async {
        kids(&jwks(&app).await).into_iter().collect::<BTreeSet<_>>() == new_kids
    })
    .await;
    assert!(pruned, "old keys {old_kids:?} still published");
}

async fn every_asymmetric_algorithm_can_sign_access_tokens_and_all_three_stay_offered(
    backend: Backend,
) {
    for (algorithm, alg) in [
        (SigningAlgorithm::ES256, Algorithm::ES256),
        (SigningAlgorithm::RS256, Algorithm::RS256),
    ] {
        let app = TestApp::spawn_with(backend, |s| s.tokens.algorithm = algorithm).await;
        let token = app.password_token("alice", app.seed_alice().await).await;
        let access = token["access_token"].as_str().unwrap();

        let introspection = app.introspect(access).await;

        assert_eq!(introspection["active"], true, "{algorithm:?}");
        assert_eq!(jsonwebtoken::decode_header(access).unwrap().alg, alg);
        let keys = jwks(&app).await;
        assert_eq!(keys["keys"].as_array().unwrap().len(), 3, "{keys}");
        assert_eq!(
            only_key_of(&keys, &format!("{alg:?}"))["kid"]
                .as_str()
                .unwrap(),
            kid_of(access)
        );
        let manager = KeyManager::start(app.store.clone(), &app.settings)
            .await
            .unwrap();
        assert_eq!(manager.offered_algorithms(), OFFERED);
        assert_eq!(manager.signing_key().unwrap().algorithm, alg);
        assert_eq!(
            manager.signing_key().unwrap().kid,
            manager.signing_key_for(alg).unwrap().kid
        );
    }
}

async fn a_token_signed_by_each_algorithms_key_verifies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.add_user("alice", "correct horse battery", &[]).await;
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();

    for alg in manager.offered_algorithms() {
        let key = manager.signing_key_for(alg).unwrap();
        let token = access_token_signed_by(&app, &key, &alice.id);

        assert_eq!(app.introspect(&token).await["active"], true, "{alg:?}");
        assert_eq!(manager.find(&key.kid).unwrap().algorithm, alg);
    }
    assert!(manager.signing_key_for(Algorithm::HS256).is_none());
    assert!(manager.signing_key_for(Algorithm::PS256).is_none());
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
    let manager = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();
    assert!(manager.offered_algorithms().is_empty());
    assert!(manager.signing_key_for(Algorithm::RS256).is_none());
    assert!(
        manager.summaries().is_empty(),
        "nothing is stored in HS256 mode"
    );
    assert!(manager.rotate(Some(Algorithm::RS256), true).await.is_err());
}

async fn instances_starting_together_each_sign_with_every_algorithm(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let settings = test_settings(&database);
    let store = Store::connect(&settings.database).await.unwrap();
    store.migrate().await.unwrap();

    let starts: Vec<_> = (0..4)
        .map(|_| {
            let (store, settings) = (store.clone(), settings.clone());
            tokio::spawn(async move { KeyManager::start(store, &settings).await })
        })
        .collect();
    let mut managers = Vec::new();
    for start in starts {
        managers.push(start.await.unwrap().unwrap());
    }

    // Each may have added first keys of its own; each signs with every algorithm at once,
    // and what it signs with stays verifiable by every other instance.
    let first: Vec<Vec<(Algorithm, String)>> = managers.iter().map(active_kids).collect();
    for manager in &managers {
        manager.reload().await.unwrap();
    }
    for kids in &first {
        for (alg, kid) in kids {
            for manager in &managers {
                let key = manager.find(kid).expect("a first key is not verifiable");
                assert_eq!(key.algorithm, *alg);
            }
        }
    }
    let agreed = active_kids(&managers[0]);
    for manager in &managers[1..] {
        assert_eq!(
            active_kids(manager),
            agreed,
            "instances disagree after reload"
        );
    }
    let stored = store.list_signing_keys().await.unwrap();
    for alg in OFFERED {
        assert!(stored.iter().any(|k| k.algorithm == format!("{alg:?}")));
    }
}

backend_tests!(
    the_jwks_publishes_one_key_per_algorithm_with_kid_use_and_alg,
    metadata_lists_endpoints_grants_and_scopes,
    an_immediate_rotation_signs_new_tokens_with_the_new_key_and_old_ones_keep_verifying,
    a_delayed_rotation_publishes_the_key_before_it_signs,
    rotating_one_algorithm_leaves_the_others_untouched,
    retired_keys_are_pruned_once_their_tokens_have_expired,
    every_asymmetric_algorithm_can_sign_access_tokens_and_all_three_stay_offered,
    a_token_signed_by_each_algorithms_key_verifies,
    hs256_works_with_a_configured_secret_and_publishes_nothing,
    instances_starting_together_each_sign_with_every_algorithm,
);
