//! The client credentials grant (RFC 6749 section 4.4).

use std::time::Duration;

use authd::domain::GrantType;
use futures_util::future::join_all;
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

/// The `token.issued` rows of `actor`, once they stand for `expected` tokens (or after 5 s).
async fn issued_rows(app: &TestApp, auditor: &str, actor: &str, expected: i64) -> Vec<Value> {
    let of_actor = |rows: &[Value]| -> Vec<Value> {
        rows.iter()
            .filter(|row| row["actor"] == actor)
            .cloned()
            .collect()
    };
    let tokens = |rows: &[Value]| -> i64 {
        rows.iter()
            .map(|row| row["occurrences"].as_i64().unwrap())
            .sum()
    };
    let rows = app
        .audit_rows(auditor, "token.issued", Duration::from_secs(5), |rows| {
            tokens(&of_actor(rows)) >= expected
        })
        .await;
    of_actor(&rows)
}

async fn concurrent_client_credentials_tokens_are_each_counted_in_the_audit_trail(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let auditor = app.token_with_scopes(&["audit:read"]).await;
    let secret = app
        .add_client(
            "reporting",
            &[GrantType::ClientCredentials],
            &["reports:read"],
            false,
        )
        .await
        .unwrap();
    let password = app.seed_alice().await;

    let machine = join_all((0..40).map(|_| {
        app.post_form_basic(
            "/token",
            "reporting",
            &secret,
            &[("grant_type", "client_credentials")],
        )
    }));
    let alice = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", password),
    ];
    let user = join_all((0..2).map(|_| app.post_form("/token", &alice)));
    let (machine, user) = futures_util::future::join(machine, user).await;

    assert!(machine.iter().all(|r| r.status() == 200), "{machine:?}");
    assert!(user.iter().all(|r| r.status() == 200), "{user:?}");
    // Identical issuances of one second may share a row; every token is counted exactly once.
    let rows = issued_rows(&app, &auditor, "reporting", 40).await;
    let counts: Vec<i64> = rows
        .iter()
        .map(|row| row["occurrences"].as_i64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<i64>(), 40, "{rows:?}");
    assert!(rows.len() <= 40, "{rows:?}");
    assert!(counts.iter().all(|&count| count >= 1), "{rows:?}");
    for row in &rows {
        assert_eq!(row["client_id"], "reporting");
        assert_eq!(row["detail"], "grant=client_credentials scope=reports:read");
    }
    // A user's tokens are never coalesced: one row each, even when identical.
    let rows = issued_rows(&app, &auditor, "alice", 2).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row["occurrences"], 1, "{row}");
        assert!(row["detail"].as_str().unwrap().contains("grant=password"));
    }
    assert_ne!(rows[0]["id"], rows[1]["id"]);
}

/// Repeats within a second are counted beside the queue and added to their first event's row
/// when it is written: across second boundaries and while rows are held and written, no token
/// may be counted twice or lost.
async fn tokens_issued_over_several_seconds_are_each_counted_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let auditor = app.token_with_scopes(&["audit:read"]).await;
    let secret = app
        .add_client(
            "batch-jobs",
            &[GrantType::ClientCredentials],
            &["reports:read"],
            false,
        )
        .await
        .unwrap();

    let mut issued = 0;
    for _ in 0..6 {
        let wave = join_all((0..25).map(|_| {
            app.post_form_basic(
                "/token",
                "batch-jobs",
                &secret,
                &[("grant_type", "client_credentials")],
            )
        }))
        .await;
        assert!(wave.iter().all(|r| r.status() == 200), "{wave:?}");
        issued += wave.len() as i64;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    let rows = issued_rows(&app, &auditor, "batch-jobs", issued).await;
    let counts: Vec<i64> = rows
        .iter()
        .map(|row| row["occurrences"].as_i64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<i64>(), issued, "{rows:?}");
    // One row a second, or two where a write fell inside the second; never one per token.
    assert!(rows.len() < 15, "{rows:?}");
    // Nothing counted after the rows were read: a second look finds the same total.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let again = issued_rows(&app, &auditor, "batch-jobs", issued).await;
    let total: i64 = again
        .iter()
        .map(|row| row["occurrences"].as_i64().unwrap())
        .sum();
    assert_eq!(total, issued, "{again:?}");
}

backend_tests!(
    tokens_issued_over_several_seconds_are_each_counted_once,
    concurrent_client_credentials_tokens_are_each_counted_in_the_audit_trail,
    a_confidential_client_gets_a_token_for_itself_without_a_refresh_token,
    without_a_scope_parameter_the_client_gets_all_its_scopes,
    a_scope_beyond_the_clients_is_invalid_scope,
    client_credentials_without_authentication_is_invalid_client,
    a_public_client_may_not_use_client_credentials,
    an_unregistered_client_is_invalid_client,
);
