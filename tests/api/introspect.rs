//! Token introspection (RFC 7662).

use std::time::Duration;

use authd::credentials::PasswordHash;
use authd::domain::{GrantType, Username};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, INTROSPECTOR, TestApp, assert_oauth_error};

async fn an_active_access_token_is_described_in_full(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;

    let body = app
        .introspect(token["access_token"].as_str().unwrap())
        .await;

    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "items:read items:write");
    assert_eq!(body["client_id"], "public");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], app.issuer());
    assert_eq!(body["aud"], app.issuer());
    assert_eq!(body["roles"], json!(["reader"]));
    for claim in ["exp", "iat", "nbf"] {
        assert!(body[claim].is_i64(), "{claim} missing: {body}");
    }
    assert!(body["sub"].is_string() && body["jti"].is_string());
    assert_eq!(
        body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap(),
        900
    );
}

async fn a_refresh_token_is_described_as_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;

    let body = app
        .introspect(token["refresh_token"].as_str().unwrap())
        .await;

    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["scope"], "items:read items:write");
}

async fn anything_that_is_not_a_live_token_is_exactly_inactive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let access = token["access_token"].as_str().unwrap();
    let mut tampered = access.to_owned();
    tampered.insert(access.find('.').unwrap() + 5, 'A');

    for candidate in [
        "garbage",
        "a.b.c",
        "",
        &tampered,
        &access[..access.len() - 3],
        &"x".repeat(9000),
    ] {
        let secret = app.introspector_secret().await;
        let response = app
            .post_form_basic(
                "/introspect",
                INTROSPECTOR,
                &secret,
                &[("token", candidate)],
            )
            .await;
        if candidate.is_empty() {
            assert_oauth_error(response, 400, "invalid_request").await;
            continue;
        }
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"active": false}), "for {candidate:.40}");
    }
}

async fn an_expired_access_token_is_inactive(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tokens.access_ttl_secs = 1).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(access).await["active"], true);

    tokio::time::sleep(Duration::from_millis(2100)).await;

    assert_eq!(app.introspect(access).await, json!({"active": false}));
}

async fn disabling_a_user_makes_their_tokens_inactive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let alice = Username::parse("alice").unwrap();

    app.store.set_disabled(&alice, true, 1).await.unwrap();

    assert_eq!(
        app.introspect(token["access_token"].as_str().unwrap())
            .await,
        json!({"active": false})
    );
    assert_eq!(
        app.introspect(token["refresh_token"].as_str().unwrap())
            .await,
        json!({"active": false})
    );
    app.store.set_disabled(&alice, false, 2).await.unwrap();
    assert_eq!(
        app.introspect(token["access_token"].as_str().unwrap())
            .await,
        json!({"active": false}),
        "re-enabling does not revive tokens issued before the disable"
    );
}

async fn changing_the_password_makes_earlier_tokens_inactive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let hash = PasswordHash::from_stored("$argon2id$v=19$m=256,t=1,p=1$c2FsdA$aGFzaA".into());

    app.store
        .set_password(&Username::parse("alice").unwrap(), &hash, 1)
        .await
        .unwrap();

    assert_eq!(
        app.introspect(token["access_token"].as_str().unwrap())
            .await,
        json!({"active": false})
    );
    assert_eq!(
        app.introspect(token["refresh_token"].as_str().unwrap())
            .await,
        json!({"active": false})
    );
}

async fn an_unauthenticated_caller_gets_401_and_no_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;

    let response = app
        .post_form(
            "/introspect",
            &[("token", token["access_token"].as_str().unwrap())],
        )
        .await;

    assert!(response.headers().contains_key("www-authenticate"));
    let body = assert_oauth_error(response, 401, "invalid_client").await;
    assert!(body.get("active").is_none());
}

async fn a_client_without_the_introspect_scope_gets_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let secret = app
        .add_client(
            "nosy",
            &[GrantType::ClientCredentials],
            &["items:read"],
            false,
        )
        .await
        .unwrap();

    let response = app
        .post_form_basic(
            "/introspect",
            "nosy",
            &secret,
            &[("token", token["access_token"].as_str().unwrap())],
        )
        .await;

    let body = assert_oauth_error(response, 403, "insufficient_scope").await;
    assert!(body.get("active").is_none());
}

async fn a_public_client_cannot_introspect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;

    let response = app
        .post_form(
            "/introspect",
            &[
                ("token", token["access_token"].as_str().unwrap()),
                ("client_id", "public"),
            ],
        )
        .await;

    assert_oauth_error(response, 401, "invalid_client").await;
}

backend_tests!(
    an_active_access_token_is_described_in_full,
    a_refresh_token_is_described_as_one,
    anything_that_is_not_a_live_token_is_exactly_inactive,
    an_expired_access_token_is_inactive,
    disabling_a_user_makes_their_tokens_inactive,
    changing_the_password_makes_earlier_tokens_inactive,
    an_unauthenticated_caller_gets_401_and_no_answer,
    a_client_without_the_introspect_scope_gets_403,
    a_public_client_cannot_introspect,
);
