//! Brute-force lockout, the audit trail, keys at rest and refusing weak configurations.

use std::time::Duration;

use authd::config::DatabaseUrl;
use authd::startup::Application;
use authd::store::Store;
use reqwest::Method;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDatabase, assert_oauth_error, test_settings};

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.post_form(
        "/token",
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

async fn assert_locked(response: reqwest::Response) {
    let retry_after: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}

async fn five_failures_lock_a_username_even_against_the_right_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    for _ in 0..5 {
        assert_oauth_error(
            login(&app, "alice", "wrong password").await,
            400,
            "invalid_grant",
        )
        .await;
    }

    let right = login(&app, "ALICE", password).await;

    assert_locked(right).await;
}

async fn unknown_usernames_lock_at_the_same_threshold(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..5 {
        assert_oauth_error(
            login(&app, "ghost", "wrong password").await,
            400,
            "invalid_grant",
        )
        .await;
    }

    assert_locked(login(&app, "ghost", "wrong password").await).await;
}

async fn a_successful_login_resets_the_usernames_counter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    for _ in 0..4 {
        login(&app, "alice", "wrong password").await;
    }
    assert_eq!(login(&app, "alice", password).await.status(), 200);

    for _ in 0..4 {
        assert_oauth_error(
            login(&app, "alice", "wrong password").await,
            400,
            "invalid_grant",
        )
        .await;
    }
    assert_eq!(login(&app, "alice", password).await.status(), 200);
}

async fn a_lock_ends_by_itself(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.security.lockout_base_secs = 1;
        s.security.lockout_max_secs = 1;
    })
    .await;
    let password = app.seed_alice().await;
    for _ in 0..5 {
        login(&app, "alice", "wrong password").await;
    }
    assert_locked(login(&app, "alice", password).await).await;

    tokio::time::sleep(Duration::from_millis(2100)).await;

    assert_eq!(login(&app, "alice", password).await.status(), 200);
}

async fn one_address_spraying_many_usernames_is_throttled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.security.ip_lockout_threshold = 3).await;
    let password = app.seed_alice().await;
    for name in ["ann", "ben", "cat"] {
        assert_oauth_error(login(&app, name, "guess").await, 400, "invalid_grant").await;
    }

    assert_locked(login(&app, "alice", password).await).await;
}

async fn failures_on_two_instances_add_up_to_one_lock(backend: Backend) {
    let a = TestApp::spawn_with(backend, |s| {
        s.tokens.issuer = Some("http://authd.test".into())
    })
    .await;
    let b = a.another_instance().await;
    let password = a.seed_alice().await;

    for _ in 0..3 {
        login(&a, "alice", "wrong password").await;
    }
    for _ in 0..2 {
        login(&b, "alice", "wrong password").await;
    }

    assert_locked(login(&a, "alice", password).await).await;
    assert_locked(login(&b, "alice", password).await).await;
}

pub async fn wait_for_audit(app: &TestApp, token: &str, action: &str) -> Vec<Value> {
    wait_for_audit_where(app, token, action, |_| true).await
}

/// The events of `action`, once one satisfies `wanted` (or after 3 s): batches land one by one.
pub async fn wait_for_audit_where(
    app: &TestApp,
    token: &str,
    action: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    app.audit_rows(token, action, Duration::from_secs(3), |rows| {
        rows.iter().any(&wanted)
    })
    .await
}

async fn the_audit_trail_records_who_did_what_and_never_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let auditor = app.token_with_scopes(&["audit:read", "users:write"]).await;
    let password = app.seed_alice().await;
    login(&app, "alice", "not the password").await;
    let tokens: Value = login(&app, "alice", password).await.json().await.unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    app.post_form("/revoke", &[("token", refresh)]).await;
    app.bearer(
        Method::PATCH,
        "/admin/users/alice",
        Some(&auditor),
        Some(&serde_json::json!({"password": "another secret pw"})),
    )
    .await;

    let failed = wait_for_audit(&app, &auditor, "login.failed").await;
    let succeeded = wait_for_audit(&app, &auditor, "login.succeeded").await;
    let issued =
        wait_for_audit_where(&app, &auditor, "token.issued", |e| e["actor"] == "alice").await;
    let revoked = wait_for_audit(&app, &auditor, "token.revoked").await;
    let updated = wait_for_audit(&app, &auditor, "user.updated").await;

    assert_eq!(failed[0]["actor"], "alice");
    assert_eq!(failed[0]["ip"], "127.0.0.1");
    assert_eq!(succeeded[0]["client_id"], "public");
    assert!(
        issued
            .iter()
            .any(|e| e["actor"] == "alice"
                && e["detail"].as_str().unwrap().contains("grant=password"))
    );
    assert_eq!(revoked[0]["actor"], "public");
    assert_eq!(updated[0]["subject"], "alice");
    assert_eq!(updated[0]["detail"], "password");
    let everything = app
        .bearer(Method::GET, "/admin/audit?limit=500", Some(&auditor), None)
        .await
        .text()
        .await
        .unwrap();
    for secret in [
        password,
        "not the password",
        "another secret pw",
        refresh,
        tokens["access_token"].as_str().unwrap(),
    ] {
        assert!(
            !everything.contains(secret),
            "the audit trail holds a secret"
        );
    }
}

async fn signing_keys_are_sealed_in_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let sealed: Vec<u8> = match &app.store {
        Store::Postgres(pool) => {
            sqlx::query_scalar("select private_key from signing_keys")
                .fetch_one(pool)
                .await
        }
        Store::Sqlite(pool) => {
            sqlx::query_scalar("select private_key from signing_keys")
                .fetch_one(pool)
                .await
        }
    }
    .unwrap();

    assert!(
        sealed.starts_with(b"AKE1"),
        "the private key is stored in the clear"
    );
}

backend_tests!(
    five_failures_lock_a_username_even_against_the_right_password,
    unknown_usernames_lock_at_the_same_threshold,
    a_successful_login_resets_the_usernames_counter,
    a_lock_ends_by_itself,
    one_address_spraying_many_usernames_is_throttled,
    failures_on_two_instances_add_up_to_one_lock,
    the_audit_trail_records_who_did_what_and_never_secrets,
    signing_keys_are_sealed_in_the_database,
);

#[tokio::test]
async fn postgres_without_a_key_encryption_key_refuses_to_start() {
    if !Backend::Postgres.available() {
        return;
    }
    let database = TestDatabase::create(Backend::Postgres).await;
    let mut settings = test_settings(&database);
    settings.keys.encryption_key = None;

    let error = Application::build(settings)
        .await
        .err()
        .expect("start-up must fail");

    assert!(
        error
            .to_string()
            .contains("keys.encryption_key is required"),
        "{error}"
    );
}

#[tokio::test]
async fn sqlite_without_a_key_encryption_key_generates_a_private_key_file() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&database);
    settings.keys.encryption_key = None;

    let app = TestApp::start(settings, database).await;

    use std::os::unix::fs::PermissionsExt;
    let path = format!("{}.kek", app.database.name);
    let mode = std::fs::metadata(&path)
        .expect("kek file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = app.password_token("alice", app.seed_alice().await).await;
    assert_eq!(
        app.introspect(token["access_token"].as_str().unwrap())
            .await["active"],
        true
    );
}

#[tokio::test]
async fn an_http_issuer_on_a_public_address_is_refused_in_production() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&database);
    settings.server.bind = "0.0.0.0:0".parse().unwrap();
    settings.tokens.issuer = Some("http://auth.example.com".into());

    let refused = Application::build(settings.clone())
        .await
        .err()
        .expect("must refuse");
    settings.security.allow_http_issuer = true;
    let allowed = Application::build(settings.clone()).await;
    settings.security.allow_http_issuer = false;
    settings.tokens.issuer = Some("https://auth.example.com".into());
    let https = Application::build(settings).await;

    assert!(
        refused.to_string().contains("refusing to start"),
        "{refused}"
    );
    assert!(allowed.is_ok());
    assert!(https.is_ok());
}

#[tokio::test]
async fn an_unsupported_database_scheme_is_a_configuration_error() {
    let mut settings = authd::config::Settings::default();
    settings.database.url = DatabaseUrl::new("mysql://db/authd");

    let error = settings.validate().unwrap_err().to_string();

    assert!(error.contains("database.url"), "{error}");
}
