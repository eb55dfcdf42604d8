//! Liveness and readiness.

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

async fn healthz_answers_ok(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_answers_ok_while_the_database_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

backend_tests!(
    healthz_answers_ok,
    readyz_answers_ok_while_the_database_answers
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_when_the_postgres_database_is_gone() {
    if !Backend::Postgres.available() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Postgres, |s| s.database.acquire_timeout_secs = 1).await;
    app.store.close().await;
    app.database.drop_postgres_database().await;

    let response = app.http.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on the database"
    );
}
