//! What naming a client proves, and what a client's registration bounds (issue 10, findings 5
//! and 6).

use authd::domain::GrantType;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};

async fn password_grant(app: &TestApp, client_id: &str, password: &str) -> reqwest::Response {
    app.post_form(
        "/token",
        &[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", "alice"),
            ("password", password),
        ],
    )
    .await
}

async fn requiring_client_auth_for_passwords_is_not_satisfied_by_naming_a_public_client(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        s.oauth.require_client_auth_for_password = true;
    })
    .await;
    let password = app.seed_alice().await;
    let grants = [GrantType::Password, GrantType::RefreshToken];
    app.add_client("spa", &grants, &["items:read"], true).await;
    let secret = app
        .add_client("backend", &grants, &["items:read"], false)
        .await
        .unwrap();

    let registered_public = password_grant(&app, "spa", password).await;
    let builtin_public = password_grant(&app, "public", password).await;
    let confidential = app
        .post_form_basic(
            "/token",
            "backend",
            &secret,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await;

    assert_oauth_error(registered_public, 401, "invalid_client").await;
    assert_oauth_error(builtin_public, 401, "invalid_client").await;
    assert_eq!(confidential.status(), 200);
}

async fn a_public_clients_registered_scopes_bound_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let grants = [GrantType::Password, GrantType::RefreshToken];
    app.add_client("spa", &grants, &["items:read"], true).await;

    let everything: Value = password_grant(&app, "spa", password)
        .await
        .json()
        .await
        .unwrap();
    let wider = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("client_id", "spa"),
                ("username", "alice"),
                ("password", password),
                ("scope", "items:read items:write"),
            ],
        )
        .await;
    let refreshed: Value = app
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "spa"),
                (
                    "refresh_token",
                    everything["refresh_token"].as_str().unwrap(),
                ),
            ],
        )
        .await
        .json()
        .await
        .unwrap();

    // alice's role holds items:read and items:write; the client may have only items:read.
    assert_eq!(everything["scope"], "items:read");
    assert_oauth_error(wider, 400, "invalid_scope").await;
    assert_eq!(refreshed["scope"], "items:read");
    let introspected = app
        .introspect(everything["access_token"].as_str().unwrap())
        .await;
    assert_eq!(introspected["scope"], "items:read");
}

async fn the_builtin_client_still_passes_the_users_scopes_through(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;

    let token = app.password_token("alice", password).await;

    assert_eq!(token["scope"], "items:read items:write");
}

backend_tests!(
    requiring_client_auth_for_passwords_is_not_satisfied_by_naming_a_public_client,
    a_public_clients_registered_scopes_bound_its_tokens,
    the_builtin_client_still_passes_the_users_scopes_through,
);
