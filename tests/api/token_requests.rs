//! Malformed requests to /token get RFC 6749 section 5.2 errors, never a 500.

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};

async fn missing_parameters_are_invalid_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let no_grant = app.post_form("/token", &[("username", "a")]).await;
    let no_password = app
        .post_form("/token", &[("grant_type", "password"), ("username", "a")])
        .await;
    let no_refresh = app
        .post_form("/token", &[("grant_type", "refresh_token")])
        .await;

    assert_oauth_error(no_grant, 400, "invalid_request").await;
    assert_oauth_error(no_password, 400, "invalid_request").await;
    assert_oauth_error(no_refresh, 400, "invalid_request").await;
}

async fn repeated_parameters_are_invalid_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=a&username=b&password=x")
        .send()
        .await
        .unwrap();

    assert_oauth_error(response, 400, "invalid_request").await;
}

async fn a_json_body_is_invalid_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .http
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "password", "username": "a", "password": "b"}))
        .send()
        .await
        .unwrap();

    assert_oauth_error(response, 400, "invalid_request").await;
}

async fn an_unknown_grant_type_is_unsupported_grant_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let implicit = app.post_form("/token", &[("grant_type", "implicit")]).await;
    let code = app
        .post_form(
            "/token",
            &[("grant_type", "authorization_code"), ("code", "x")],
        )
        .await;

    assert_oauth_error(implicit, 400, "unsupported_grant_type").await;
    // A supported grant that the built-in public client does not hold.
    assert_oauth_error(code, 400, "unauthorized_client").await;
}

async fn a_malformed_basic_header_is_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for header in ["Basic %%%", "Basic", "Basic dXNlcm5hbWU=", "Digest abc"] {
        let response = app
            .http
            .post(app.url("/token"))
            .header("authorization", header)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let challenge = response.headers().contains_key("www-authenticate");
        assert_oauth_error(response, 401, "invalid_client").await;
        assert!(challenge, "{header}: 401 without WWW-Authenticate");
    }
}

async fn basic_and_body_credentials_together_are_invalid_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth("a", Some("b"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "a"),
            ("client_secret", "b"),
        ])
        .send()
        .await
        .unwrap();

    assert_oauth_error(response, 400, "invalid_request").await;
}

async fn an_oversized_body_is_refused_with_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let huge = "x".repeat(20 * 1024);

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "a"),
                ("password", &huge),
            ],
        )
        .await;

    assert_oauth_error(response, 413, "invalid_request").await;
}

async fn an_overlong_password_is_invalid_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long = "x".repeat(1025);

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "a"),
                ("password", &long),
            ],
        )
        .await;

    assert_oauth_error(response, 400, "invalid_request").await;
}

backend_tests!(
    missing_parameters_are_invalid_request,
    repeated_parameters_are_invalid_request,
    a_json_body_is_invalid_request,
    an_unknown_grant_type_is_unsupported_grant_type,
    a_malformed_basic_header_is_invalid_client,
    basic_and_body_credentials_together_are_invalid_request,
    an_oversized_body_is_refused_with_413,
    an_overlong_password_is_invalid_request,
);
