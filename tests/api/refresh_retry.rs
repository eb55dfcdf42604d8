//! Refresh retries (issue 14, `tokens.refresh_retry_secs`): a client that lost the response to a
//! refresh presents the same refresh token again and gets the same successor, without a branch
//! in the family; outside the window, after the successor was used, or from another client it
//! is what it always was: reuse (RFC 9700 section 4.14.2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::credentials::hash_secret;
use authd::domain::GrantType;
use authd::store::Store;
use authd::tokens::family_secret_of;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};

const PASSWORD: &str = "correct horse battery";

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_form(
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn refreshed(app: &TestApp, token: &str) -> Value {
    let response = refresh(app, token).await;
    assert_eq!(response.status(), 200, "refresh failed");
    response.json().await.unwrap()
}

fn refresh_token_of(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn first_refresh_token(app: &TestApp) -> String {
    let password = app.seed_alice().await;
    refresh_token_of(&app.password_token("alice", password).await)
}

/// The family's row: (generation, successor_sealed, every text column joined).
async fn family_row(store: &Store, token: &str) -> (i64, Option<String>, String) {
    let family_hash = hash_secret(family_secret_of(token).unwrap());
    let sql = r"select generation, successor_sealed,
                       id || ' ' || coalesce(family_hash, '') || ' ' || current_hash || ' ' ||
                       coalesce(previous_hash, '') || ' ' || coalesce(successor_sealed, '') || ' ' ||
                       scope || ' ' || client_id || ' ' || user_id
                from refresh_families where family_hash = $1";
    match store {
        Store::Postgres(pool) => sqlx::query_as(sql).bind(family_hash).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_as(sql).bind(family_hash).fetch_one(pool).await,
    }
    .unwrap()
}

async fn count_families(store: &Store) -> i64 {
    let sql = "select count(*) from refresh_families";
    match store {
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap()
}

async fn a_lost_response_is_retried_with_the_same_refresh_token_and_a_working_access_token(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let first = first_refresh_token(&app).await;
    let lost = refreshed(&app, &first).await;

    let retried = refreshed(&app, &first).await;

    assert_eq!(refresh_token_of(&retried), refresh_token_of(&lost));
    assert_ne!(retried["access_token"], lost["access_token"]);
    assert_eq!(retried["scope"], "items:read items:write");
    let access = retried["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(access).await["active"], true);
    let me = app.bearer(Method::GET, "/me", Some(access), None).await;
    assert_eq!(me.status(), 200);
    // No branch: the successor is the family's one current token, and it goes on working.
    assert_eq!(family_row(&app.store, &first).await.0, 1);
    let next = refreshed(&app, &refresh_token_of(&retried)).await;
    assert_eq!(
        app.introspect(&refresh_token_of(&next)).await["active"],
        true
    );
}

async fn concurrent_retries_all_get_the_same_successor_and_no_branch(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let first = first_refresh_token(&app).await;

    // Eight exchanges of one current token at once: one rotates, the others are its retries.
    let racing = (0..8).map(|_| {
        let (app, first) = (app.clone(), first.clone());
        tokio::spawn(async move { refreshed(&app, &first).await })
    });
    let answers: Vec<Value> = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let successor = refresh_token_of(&answers[0]);
    assert!(answers.iter().all(|a| refresh_token_of(a) == successor));
    assert_eq!(family_row(&app.store, &first).await.0, 1, "one rotation");

    // Eight retries at once of the token just exchanged.
    let racing = (0..8).map(|_| {
        let (app, first) = (app.clone(), first.clone());
        tokio::spawn(async move { refreshed(&app, &first).await })
    });
    for answer in futures_util::future::join_all(racing).await {
        assert_eq!(refresh_token_of(&answer.unwrap()), successor);
    }
    assert_eq!(
        family_row(&app.store, &first).await.0,
        1,
        "still one rotation"
    );
    assert_eq!(count_families(&app.store).await, 1);
    assert_eq!(refresh(&app, &successor).await.status(), 200);
}

async fn a_retry_after_the_window_is_reuse_and_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tokens.refresh_retry_secs = 10).await;
    let first = first_refresh_token(&app).await;
    let successor = refresh_token_of(&refreshed(&app, &first).await);
    app.clock.advance(11);

    assert_oauth_error(refresh(&app, &first).await, 400, "invalid_grant").await;

    assert_eq!(app.introspect(&successor).await["active"], false);
    assert_oauth_error(refresh(&app, &successor).await, 400, "invalid_grant").await;
}

async fn a_retry_after_the_successor_was_used_revokes_the_whole_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = first_refresh_token(&app).await;
    let successor = refresh_token_of(&refreshed(&app, &first).await);
    let newest = refresh_token_of(&refreshed(&app, &successor).await);

    assert_oauth_error(refresh(&app, &first).await, 400, "invalid_grant").await;

    assert_eq!(app.introspect(&newest).await["active"], false);
    assert_oauth_error(refresh(&app, &newest).await, 400, "invalid_grant").await;
    assert_eq!(count_families(&app.store).await, 0);
}

async fn a_retry_from_another_client_gets_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = first_refresh_token(&app).await;
    let successor = refresh_token_of(&refreshed(&app, &first).await);
    app.add_client(
        "other-app",
        &[GrantType::Password, GrantType::RefreshToken],
        &["items:read"],
        true,
    )
    .await;

    let stranger = app
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "other-app"),
                ("refresh_token", &first),
            ],
        )
        .await;

    let body = assert_oauth_error(stranger, 400, "invalid_grant").await;
    assert!(body.get("refresh_token").is_none());
    // Another client cannot end a family it never held; its own client still can retry.
    assert_eq!(refresh_token_of(&refreshed(&app, &first).await), successor);
}

async fn without_retries_the_exchanged_token_is_reuse_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tokens.refresh_retry_secs = 0).await;
    let first = first_refresh_token(&app).await;
    let successor = refresh_token_of(&refreshed(&app, &first).await);
    assert_eq!(
        family_row(&app.store, &first).await.1,
        None,
        "nothing sealed"
    );

    assert_oauth_error(refresh(&app, &first).await, 400, "invalid_grant").await;

    assert_eq!(app.introspect(&successor).await["active"], false);
}

async fn two_instances_on_one_database_answer_retries_alike(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let other = Arc::new(app.another_instance().await);
    let first = first_refresh_token(&app).await;

    let racing = (0..8).map(|i| {
        let instance = if i % 2 == 0 {
            app.clone()
        } else {
            other.clone()
        };
        let first = first.clone();
        tokio::spawn(async move { refreshed(&instance, &first).await })
    });
    let answers: Vec<Value> = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let successor = refresh_token_of(&answers[0]);
    assert!(answers.iter().all(|a| refresh_token_of(a) == successor));
    assert_eq!(
        refresh_token_of(&refreshed(&other, &first).await),
        successor
    );
    assert_eq!(family_row(&app.store, &first).await.0, 1);
}

async fn the_database_never_holds_the_successor_in_plain_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = first_refresh_token(&app).await;
    let successor = refresh_token_of(&refreshed(&app, &first).await);
    let random_part = successor.rsplit('~').next().unwrap().to_owned();

    let (_, sealed, row) = family_row(&app.store, &first).await;

    assert!(sealed.is_some(), "the successor is kept, sealed");
    assert!(!row.contains(&random_part), "plaintext successor in {row}");
    assert!(!row.contains(&successor));
    // The janitor forgets it once the window has passed.
    let after_window = authd::clock::unix_now() + 11;
    let swept = app.store.sweep(after_window, 0, 0, 0).await.unwrap();
    assert_eq!(swept.refresh_retries, 1);
    assert_eq!(family_row(&app.store, &first).await.1, None);
    assert_eq!(refresh(&app, &successor).await.status(), 200);
}

/// How a trial ends the family while a retry loop runs.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Revoke,
    PasswordChange,
}

/// Retries keep coming while the family ends: none that starts after the ending has returned
/// may succeed.
async fn no_retry_outlives(backend: Backend, ending: Ending) {
    let app = Arc::new(
        TestApp::spawn_with(backend, |s| {
            s.security.lockout_threshold = 1_000_000;
            s.security.ip_lockout_threshold = 1_000_000;
            // The window outlasts the trial.
            s.tokens.refresh_retry_secs = 600;
        })
        .await,
    );
    app.add_role("reader", &["items:read"]).await;
    let admin = app.admin_token().await;
    let mut raced = 0;
    for trial in 0..20 {
        let username = format!("victim{trial}");
        app.add_user(&username, PASSWORD, &["reader"]).await;
        let first = refresh_token_of(&app.password_token(&username, PASSWORD).await);
        let successor = refresh_token_of(&refreshed(&app, &first).await);
        let retries = {
            let (app, first) = (app.clone(), first.clone());
            tokio::spawn(async move {
                let mut successes = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    let started = Instant::now();
                    if refresh(&app, &first).await.status() != 200 {
                        break;
                    }
                    successes.push(started);
                }
                successes
            })
        };
        tokio::time::sleep(Duration::from_millis((trial as u64 * 7) % 30)).await;
        match ending {
            Ending::Revoke => {
                let revoked = app.post_form("/revoke", &[("token", &successor)]).await;
                assert_eq!(revoked.status(), 200);
            }
            Ending::PasswordChange => {
                let changed = app
                    .bearer(
                        Method::PATCH,
                        &format!("/admin/users/{username}"),
                        Some(&admin),
                        Some(&json!({"password": "a brand new password"})),
                    )
                    .await;
                assert_eq!(changed.status(), 200);
            }
        }
        let ended = Instant::now();
        let successes = retries.await.unwrap();

        let late = successes.iter().filter(|started| **started > ended).count();
        assert_eq!(
            late, 0,
            "trial {trial} ({ending:?}): retries outlived the ending"
        );
        if successes.last().is_some_and(|started| {
            ended.saturating_duration_since(*started) < Duration::from_millis(50)
        }) {
            raced += 1;
        }
        assert_oauth_error(refresh(&app, &first).await, 400, "invalid_grant").await;
        assert_eq!(app.introspect(&successor).await["active"], false);
    }
    assert!(raced > 0, "no retry was in flight when the family ended");
}

async fn a_retry_racing_a_revocation_never_outlives_it(backend: Backend) {
    no_retry_outlives(backend, Ending::Revoke).await;
}

async fn a_retry_racing_a_password_change_never_outlives_it(backend: Backend) {
    no_retry_outlives(backend, Ending::PasswordChange).await;
}

backend_tests!(
    a_lost_response_is_retried_with_the_same_refresh_token_and_a_working_access_token,
    concurrent_retries_all_get_the_same_successor_and_no_branch,
    a_retry_after_the_window_is_reuse_and_revokes_the_family,
    a_retry_after_the_successor_was_used_revokes_the_whole_family,
    a_retry_from_another_client_gets_nothing,
    without_retries_the_exchanged_token_is_reuse_at_once,
    two_instances_on_one_database_answer_retries_alike,
    the_database_never_holds_the_successor_in_plain_text,
    a_retry_racing_a_revocation_never_outlives_it,
    a_retry_racing_a_password_change_never_outlives_it,
);
