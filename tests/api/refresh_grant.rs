//! The refresh token grant: rotation, reuse detection, scope narrowing (RFC 6749 section 6,
//! RFC 9700 section 4.14).

use std::time::Duration;

use authd::domain::Username;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};

async fn refresh(app: &TestApp, refresh_token: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.post_form("/token", &form).await
}

async fn login(app: &TestApp) -> Value {
    let password = app.seed_alice().await;
    app.password_token("alice", password).await
}

async fn a_refresh_rotates_the_token_and_the_old_one_stops_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = login(&app).await;
    let old = first["refresh_token"].as_str().unwrap();

    let response = refresh(&app, old, None).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Value = response.json().await.unwrap();
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(second["scope"], "items:read items:write");
    assert_eq!(app.introspect(old).await["active"], false);
    assert_eq!(app.introspect(new).await["active"], true);
}

async fn reusing_a_rotated_refresh_token_revokes_the_whole_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = login(&app).await;
    let old = first["refresh_token"].as_str().unwrap();
    let second: Value = refresh(&app, old, None).await.json().await.unwrap();
    let second = second["refresh_token"].as_str().unwrap();
    // Once its successor was used, the old token is no retry (refresh_retry.rs) but reuse.
    let third: Value = refresh(&app, second, None).await.json().await.unwrap();
    let current = third["refresh_token"].as_str().unwrap();

    let replay = refresh(&app, old, None).await;

    assert_oauth_error(replay, 400, "invalid_grant").await;
    assert_eq!(
        app.introspect(current).await["active"],
        false,
        "the family is revoked"
    );
    let with_current = refresh(&app, current, None).await;
    assert_oauth_error(with_current, 400, "invalid_grant").await;
}

async fn without_retries_of_two_concurrent_refreshes_with_one_token_exactly_one_wins(
    backend: Backend,
) {
    // With retries on, both get the same successor (refresh_retry.rs).
    let app = TestApp::spawn_with(backend, |s| s.tokens.refresh_retry_secs = 0).await;
    let first = login(&app).await;
    let token = first["refresh_token"].as_str().unwrap();

    let (a, b) = tokio::join!(refresh(&app, token, None), refresh(&app, token, None));

    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert!(
        statuses.contains(&200) && statuses.contains(&400),
        "{statuses:?}"
    );
}

async fn scope_may_be_narrowed_but_never_widened(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let narrow: Value = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "correct horse battery"),
                ("scope", "items:read"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let token = narrow["refresh_token"].as_str().unwrap();

    let widened = refresh(&app, token, Some("items:read items:write")).await;
    assert_oauth_error(widened, 400, "invalid_scope").await;

    let same: Value = refresh(&app, token, Some("items:read"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same["scope"], "items:read");
}

async fn a_refresh_token_for_a_since_disabled_user_fails(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = login(&app).await;
    app.store
        .set_disabled(&Username::parse("alice").unwrap(), true, 1)
        .await
        .unwrap();

    let response = refresh(&app, first["refresh_token"].as_str().unwrap(), None).await;

    assert_oauth_error(response, 400, "invalid_grant").await;
}

async fn a_refresh_token_issued_to_another_client_is_invalid_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = login(&app).await;
    app.add_client(
        "other",
        &[authd::domain::GrantType::RefreshToken],
        &[],
        true,
    )
    .await;

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
                ("client_id", "other"),
            ],
        )
        .await;

    assert_oauth_error(response, 400, "invalid_grant").await;
}

async fn an_expired_refresh_token_is_invalid_grant(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tokens.refresh_ttl_secs = 1).await;
    let first = login(&app).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let response = refresh(&app, first["refresh_token"].as_str().unwrap(), None).await;

    assert_oauth_error(response, 400, "invalid_grant").await;
}

async fn a_made_up_refresh_token_is_invalid_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = refresh(&app, "not-a-token-we-issued", None).await;

    assert_oauth_error(response, 400, "invalid_grant").await;
}

backend_tests!(
    a_refresh_rotates_the_token_and_the_old_one_stops_working,
    reusing_a_rotated_refresh_token_revokes_the_whole_family,
    without_retries_of_two_concurrent_refreshes_with_one_token_exactly_one_wins,
    scope_may_be_narrowed_but_never_widened,
    a_refresh_token_for_a_since_disabled_user_fails,
    a_refresh_token_issued_to_another_client_is_invalid_grant,
    an_expired_refresh_token_is_invalid_grant,
    a_made_up_refresh_token_is_invalid_grant,
);
