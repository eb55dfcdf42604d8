//! The client credentials grant (RFC 6749 section 4.4).

use authd::domain::GrantType;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};

async fn a_confidential_client_gets_a_token_for_itself_without_a_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app
        .add_client(
            "reporting",
            &[GrantType::ClientCredentials],
            &["reports:read", "reports:write"],
            false,
        )
        .await
        .unwrap();

    let response = app
        .post_form_basic(
            "/token",
            "reporting",
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ],
        )
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "reports:read");
    assert!(body.get("refresh_token").is_none());
    let introspection = app.introspect(body["access_token"].as_str().unwrap()).await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["sub"], "reporting");
    assert_eq!(introspection["client_id"], "reporting");
    assert!(introspection.get("username").is_none());
}

async fn without_a_scope_parameter_the_client_gets_all_its_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app
        .add_client(
            "reporting",
            &[GrantType::ClientCredentials],
            &["b", "a"],
            false,
        )
        .await
        .unwrap();

    let response = app
        .post_form_basic(
            "/token",
            "reporting",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "a b");
}

async fn a_scope_beyond_the_clients_is_invalid_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app
        .add_client("reporting", &[GrantType::ClientCredentials], &["a"], false)
        .await
        .unwrap();

    let response = app
        .post_form_basic(
            "/token",
            "reporting",
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "a users:write"),
            ],
        )
        .await;

    assert_oauth_error(response, 400, "invalid_scope").await;
}

async fn client_credentials_without_authentication_is_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .post_form("/token", &[("grant_type", "client_credentials")])
        .await;

    assert_oauth_error(response, 401, "invalid_client").await;
}

async fn a_public_client_may_not_use_client_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_client("spa", &[GrantType::Password], &[], true)
        .await;

    let by_id = app
        .post_form(
            "/token",
            &[("grant_type", "client_credentials"), ("client_id", "spa")],
        )
        .await;
    let builtin = app
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "public"),
            ],
        )
        .await;

    assert_oauth_error(by_id, 400, "unauthorized_client").await;
    assert_oauth_error(builtin, 400, "unauthorized_client").await;
}

async fn an_unregistered_client_is_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .post_form_basic(
            "/token",
            "never-registered",
            "whatever",
            &[("grant_type", "client_credentials")],
        )
        .await;

    assert_oauth_error(response, 401, "invalid_client").await;
}

backend_tests!(
    a_confidential_client_gets_a_token_for_itself_without_a_refresh_token,
    without_a_scope_parameter_the_client_gets_all_its_scopes,
    a_scope_beyond_the_clients_is_invalid_scope,
    client_credentials_without_authentication_is_invalid_client,
    a_public_client_may_not_use_client_credentials,
    an_unregistered_client_is_invalid_client,
);
