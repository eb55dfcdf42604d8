//! Token revocation (RFC 7009).

use authd::domain::GrantType;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};

async fn revoking_a_refresh_token_ends_its_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let refresh = token["refresh_token"].as_str().unwrap();

    let response = app
        .post_form(
            "/revoke",
            &[("token", refresh), ("token_type_hint", "refresh_token")],
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.introspect(refresh).await, json!({"active": false}));
    let exchange = app
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_oauth_error(exchange, 400, "invalid_grant").await;
}

async fn revoking_an_access_token_makes_it_inactive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let access = token["access_token"].as_str().unwrap();

    let response = app.post_form("/revoke", &[("token", access)]).await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.introspect(access).await, json!({"active": false}));
    assert_eq!(
        app.introspect(token["refresh_token"].as_str().unwrap())
            .await["active"],
        true
    );
}

async fn a_confidential_client_revokes_its_own_token_with_basic_auth(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app
        .add_client("worker", &[GrantType::ClientCredentials], &["jobs"], false)
        .await
        .unwrap();
    let token: serde_json::Value = app
        .post_form_basic(
            "/token",
            "worker",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap();

    let response = app
        .post_form_basic("/revoke", "worker", &secret, &[("token", access)])
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.introspect(access).await, json!({"active": false}));
}

async fn unknown_and_already_revoked_tokens_still_get_200(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let refresh = token["refresh_token"].as_str().unwrap();

    let unknown = app.post_form("/revoke", &[("token", "never-issued")]).await;
    let first = app.post_form("/revoke", &[("token", refresh)]).await;
    let again = app.post_form("/revoke", &[("token", refresh)]).await;

    assert_eq!(unknown.status(), 200);
    assert_eq!(first.status(), 200);
    assert_eq!(again.status(), 200);
}

async fn a_client_cannot_revoke_another_clients_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let secret = app
        .add_client("intruder", &[GrantType::ClientCredentials], &[], false)
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap();

    let response = app
        .post_form_basic("/revoke", "intruder", &secret, &[("token", access)])
        .await;

    assert_oauth_error(response, 400, "unauthorized_client").await;
    assert_eq!(app.introspect(access).await["active"], true);
}

async fn revocation_needs_the_token_parameter(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .post_form("/revoke", &[("token_type_hint", "access_token")])
        .await;

    assert_oauth_error(response, 400, "invalid_request").await;
}

async fn a_wrong_secret_on_revocation_is_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_client("worker", &[GrantType::ClientCredentials], &[], false)
        .await;

    let response = app
        .post_form_basic("/revoke", "worker", "wrong", &[("token", "x")])
        .await;

    assert_oauth_error(response, 401, "invalid_client").await;
}

backend_tests!(
    revoking_a_refresh_token_ends_its_family,
    revoking_an_access_token_makes_it_inactive,
    a_confidential_client_revokes_its_own_token_with_basic_auth,
    unknown_and_already_revoked_tokens_still_get_200,
    a_client_cannot_revoke_another_clients_token,
    revocation_needs_the_token_parameter,
    a_wrong_secret_on_revocation_is_invalid_client,
);
