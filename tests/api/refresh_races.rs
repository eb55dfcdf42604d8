//! A stolen refresh token must not outlive a revocation, however its rotations interleave with
//! it (RFC 9700 section 4.14; issue 10, findings 1, 11 and 12).
//!
//! Each race trial keeps refreshing one token chain as fast as it can while something ends the
//! chain: a password change, disabling the user, `/revoke`, or the replay of a rotated token.
//! Once that action has returned, no refresh that starts afterwards may succeed, and the chain
//! must stop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::domain::GrantType;
use authd::store::Store;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};

const TRIALS: usize = 40;
const PASSWORD: &str = "correct horse battery";

/// How one trial ends the victim's sessions.
#[derive(Clone, Copy, Debug)]
enum Ending {
    PasswordChange,
    Disable,
    RevokeFamily,
    ReplayRotatedToken,
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_form(
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// What the thief's refresh loop saw: when each successful refresh started, and its tokens.
struct Chain {
    successes: Vec<(Instant, String)>,
    last_refresh_token: String,
}

async fn keep_refreshing(
    app: Arc<TestApp>,
    first: String,
    deadline: Instant,
    going: tokio::sync::oneshot::Sender<()>,
) -> Chain {
    let mut going = Some(going);
    let mut current = first;
    let mut successes = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let response = refresh(&app, &current).await;
        if response.status() != 200 {
            break;
        }
        let body: Value = response.json().await.unwrap();
        successes.push((started, body["access_token"].as_str().unwrap().to_owned()));
        current = body["refresh_token"].as_str().unwrap().to_owned();
        if let Some(going) = going.take() {
            let _ = going.send(());
        }
    }
    Chain {
        successes,
        last_refresh_token: current,
    }
}

async fn end_sessions(app: &TestApp, admin: &str, username: &str, first: &str, ending: Ending) {
    let patch = |body: Value| async move {
        let response = app
            .bearer(
                Method::PATCH,
                &format!("/admin/users/{username}"),
                Some(admin),
                Some(&body),
            )
            .await;
        assert_eq!(response.status(), 200, "{ending:?}");
    };
    match ending {
        Ending::PasswordChange => patch(json!({"password": "a brand new password"})).await,
        Ending::Disable => patch(json!({"disabled": true})).await,
        Ending::RevokeFamily => {
            let response = app.post_form("/revoke", &[("token", first)]).await;
            assert_eq!(response.status(), 200);
        }
        Ending::ReplayRotatedToken => {
            // The first token was rotated by the thief's first refresh: this is reuse.
            assert_oauth_error(refresh(app, first).await, 400, "invalid_grant").await;
        }
    }
}

async fn no_refresh_outlives(backend: Backend, ending: Ending) {
    let app = Arc::new(
        TestApp::spawn_with(backend, |s| {
            s.security.lockout_threshold = 1_000_000;
            s.security.ip_lockout_threshold = 1_000_000;
        })
        .await,
    );
    app.add_role("reader", &["items:read"]).await;
    let admin = app.admin_token().await;
    let mut raced = 0;
    for trial in 0..TRIALS {
        let username = format!("victim{trial}");
        app.add_user(&username, PASSWORD, &["reader"]).await;
        let first = app.password_token(&username, PASSWORD).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        // The thief's first exchange makes `first` a rotated token.
        let second: Value = refresh(&app, &first).await.json().await.unwrap();
        let second = second["refresh_token"].as_str().unwrap().to_owned();

        let (going, thief_going) = tokio::sync::oneshot::channel();
        let thief = tokio::spawn(keep_refreshing(
            app.clone(),
            second,
            Instant::now() + Duration::from_secs(10),
            going,
        ));
        // Let a few rotations go by, a different number each trial.
        let _ = thief_going.await;
        tokio::time::sleep(Duration::from_millis((trial as u64 * 7) % 40)).await;
        end_sessions(&app, &admin, &username, &first, ending).await;
        let ended = Instant::now();
        let chain = thief.await.unwrap();

        let late: Vec<_> = chain
            .successes
            .iter()
            .filter(|(started, _)| *started > ended)
            .collect();
        assert!(
            late.is_empty(),
            "trial {trial} ({ending:?}): {} refreshes that started after the sessions ended succeeded",
            late.len()
        );
        assert!(
            chain.successes.iter().any(|(started, _)| *started < ended),
            "trial {trial}: the thief never got going; the trial tested nothing"
        );
        if chain.successes.last().is_some_and(|(started, _)| {
            ended.saturating_duration_since(*started) < Duration::from_millis(50)
        }) {
            raced += 1;
        }
        // Whatever raced, the chain is dead and so are the access tokens it got.
        assert_oauth_error(
            refresh(&app, &chain.last_refresh_token).await,
            400,
            "invalid_grant",
        )
        .await;
        assert_eq!(
            app.introspect(&chain.last_refresh_token).await["active"],
            false
        );
        if let Some((_, access)) = chain.successes.last()
            && !matches!(ending, Ending::RevokeFamily | Ending::ReplayRotatedToken)
        {
            assert_eq!(app.introspect(access).await["active"], false, "{ending:?}");
        }
    }
    assert!(
        raced > 0,
        "no refresh was in flight when the sessions ended; the race was never tried"
    );
}

async fn a_password_change_ends_a_stolen_refresh_chain_however_it_races(backend: Backend) {
    no_refresh_outlives(backend, Ending::PasswordChange).await;
}

async fn disabling_a_user_ends_a_stolen_refresh_chain_however_it_races(backend: Backend) {
    no_refresh_outlives(backend, Ending::Disable).await;
}

async fn revoking_the_family_ends_a_stolen_refresh_chain_however_it_races(backend: Backend) {
    no_refresh_outlives(backend, Ending::RevokeFamily).await;
}

async fn reuse_detection_ends_a_stolen_refresh_chain_however_it_races(backend: Backend) {
    no_refresh_outlives(backend, Ending::ReplayRotatedToken).await;
}

async fn count_families(store: &Store) -> i64 {
    let sql = "select count(*) from refresh_families";
    match store {
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap()
}

async fn rotations_keep_one_row_and_any_old_token_is_still_recognised_as_reuse(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let first = app.password_token("alice", password).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut chain = vec![first];
    for _ in 0..50 {
        let body: Value = refresh(&app, chain.last().unwrap())
            .await
            .json()
            .await
            .unwrap();
        chain.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(count_families(&app.store).await, 1, "one row per family");

    // The very first token, 50 rotations old, is reuse: the whole family ends.
    assert_oauth_error(refresh(&app, &chain[0]).await, 400, "invalid_grant").await;
    assert_oauth_error(
        refresh(&app, chain.last().unwrap()).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(count_families(&app.store).await, 0);
}

async fn a_forged_token_naming_no_family_revokes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let token = app.password_token("alice", password).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, rest) = token.split_once('~').unwrap();
    let forged = format!("{}~{rest}", "A".repeat(43));

    assert_oauth_error(refresh(&app, &forged).await, 400, "invalid_grant").await;
    assert_eq!(refresh(&app, &token).await.status(), 200);
}

async fn a_client_registered_again_does_not_inherit_the_old_registrations_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let admin = app.admin_token().await;
    let grants = [GrantType::ClientCredentials];
    let secret = app
        .add_client("svc", &grants, &["items:read"], false)
        .await
        .unwrap();
    let old_client_token: Value = app
        .post_form_basic(
            "/token",
            "svc",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .unwrap();
    let old_client_token = old_client_token["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_client(
        "app",
        &[GrantType::Password, GrantType::RefreshToken],
        &["items:read"],
        true,
    )
    .await;
    let user_tokens: Value = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("client_id", "app"),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(app.introspect(&old_client_token).await["active"], true);

    for client in ["svc", "app"] {
        let deleted = app
            .bearer(
                Method::DELETE,
                &format!("/admin/clients/{client}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(deleted.status(), 204);
    }
    app.add_client("svc", &grants, &["items:read"], false).await;
    app.add_client(
        "app",
        &[GrantType::Password, GrantType::RefreshToken],
        &["items:read"],
        true,
    )
    .await;
    // Past the client cache's freshness.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    assert_eq!(app.introspect(&old_client_token).await["active"], false);
    let access = user_tokens["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(access).await["active"], false);
    let refreshed = app
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                (
                    "refresh_token",
                    user_tokens["refresh_token"].as_str().unwrap(),
                ),
            ],
        )
        .await;
    assert_oauth_error(refreshed, 400, "invalid_grant").await;
}

backend_tests!(
    a_password_change_ends_a_stolen_refresh_chain_however_it_races,
    disabling_a_user_ends_a_stolen_refresh_chain_however_it_races,
    revoking_the_family_ends_a_stolen_refresh_chain_however_it_races,
    reuse_detection_ends_a_stolen_refresh_chain_however_it_races,
    rotations_keep_one_row_and_any_old_token_is_still_recognised_as_reuse,
    a_forged_token_naming_no_family_revokes_nothing,
    a_client_registered_again_does_not_inherit_the_old_registrations_tokens,
);
