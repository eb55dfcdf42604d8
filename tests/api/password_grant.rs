//! The password grant (RFC 6749 section 4.3).

use authd::domain::GrantType;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};

async fn password_grant_issues_a_bearer_token_with_every_scope_of_the_users_roles(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "items:read items:write");
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 43)
    );
}

async fn usernames_match_regardless_of_case_and_width(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;

    let token = app.password_token("ＡＬＩＣＥ", password).await;

    let introspection = app
        .introspect(token["access_token"].as_str().unwrap())
        .await;
    assert_eq!(introspection["username"], "alice");
}

async fn wrong_password_and_unknown_user_get_the_same_invalid_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;

    let wrong_password = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "nope-nope"),
            ],
        )
        .await;
    let unknown_user = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "mallory"),
                ("password", "nope-nope"),
            ],
        )
        .await;

    let a = assert_oauth_error(wrong_password, 400, "invalid_grant").await;
    let b = assert_oauth_error(unknown_user, 400, "invalid_grant").await;
    assert_eq!(a, b, "the answers must not reveal which usernames exist");
}

async fn a_narrower_scope_can_be_requested(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
                ("scope", "items:read"),
            ],
        )
        .await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "items:read");
}

async fn a_scope_beyond_the_users_roles_is_invalid_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
                ("scope", "items:read users:write"),
            ],
        )
        .await;

    let body = assert_oauth_error(response, 400, "invalid_scope").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("users:write")
    );
}

async fn a_user_without_roles_gets_an_empty_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_user("norole", "long enough password", &[]).await;

    let body = app.password_token("norole", "long enough password").await;

    assert_eq!(body["scope"], "");
}

async fn a_confidential_client_bounds_the_users_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let secret = app
        .add_client(
            "webapp",
            &[GrantType::Password, GrantType::RefreshToken],
            &["items:read"],
            false,
        )
        .await
        .unwrap();

    let response = app
        .post_form_basic(
            "/token",
            "webapp",
            &secret,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "items:read");
    let introspection = app.introspect(body["access_token"].as_str().unwrap()).await;
    assert_eq!(introspection["client_id"], "webapp");
}

async fn client_secret_in_the_body_authenticates_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let secret = app
        .add_client("webapp", &[GrantType::Password], &["items:read"], false)
        .await
        .unwrap();

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
                ("client_id", "webapp"),
                ("client_secret", &secret),
            ],
        )
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "webapp may not use refresh_token: {body}"
    );
}

async fn a_registered_public_client_identifies_by_client_id_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    app.add_client(
        "spa",
        &[GrantType::Password, GrantType::RefreshToken],
        &[],
        true,
    )
    .await;

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
                ("client_id", "spa"),
            ],
        )
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let introspection = app.introspect(body["access_token"].as_str().unwrap()).await;
    assert_eq!(introspection["client_id"], "spa");
}

async fn a_client_without_the_password_grant_is_unauthorized_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let secret = app
        .add_client("machine", &[GrantType::ClientCredentials], &[], false)
        .await
        .unwrap();

    let response = app
        .post_form_basic(
            "/token",
            "machine",
            &secret,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await;

    assert_oauth_error(response, 400, "unauthorized_client").await;
}

async fn password_grant_without_client_credentials_can_be_forbidden(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, |s| s.oauth.require_client_auth_for_password = true).await;
    let password = app.seed_alice().await;

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await;

    assert_oauth_error(response, 401, "invalid_client").await;
}

async fn a_wrong_client_secret_is_invalid_client_with_a_basic_challenge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    app.add_client("webapp", &[GrantType::Password], &[], false)
        .await;

    let response = app
        .post_form_basic(
            "/token",
            "webapp",
            "not-the-secret",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await;

    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_oauth_error(response, 401, "invalid_client").await;
    assert!(challenge.is_some_and(|c| c.starts_with("Basic")));
}

backend_tests!(
    password_grant_issues_a_bearer_token_with_every_scope_of_the_users_roles,
    usernames_match_regardless_of_case_and_width,
    wrong_password_and_unknown_user_get_the_same_invalid_grant,
    a_narrower_scope_can_be_requested,
    a_scope_beyond_the_users_roles_is_invalid_scope,
    a_user_without_roles_gets_an_empty_scope,
    a_confidential_client_bounds_the_users_scopes,
    client_secret_in_the_body_authenticates_too,
    a_registered_public_client_identifies_by_client_id_alone,
    a_client_without_the_password_grant_is_unauthorized_client,
    password_grant_without_client_credentials_can_be_forbidden,
    a_wrong_client_secret_is_invalid_client_with_a_basic_challenge,
);
