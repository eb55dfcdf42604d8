//! The janitor keeps tables bounded under a steady load of issued and expiring tokens.

use std::time::{Duration, Instant};

use authd::store::Store;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

async fn count(store: &Store, table: &str) -> i64 {
    let sql = format!("select count(*) from {table}");
    match store {
        Store::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
    }
    .unwrap()
}

async fn expired_rows_are_deleted_so_tables_stop_growing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.tokens.access_ttl_secs = 1;
        s.tokens.refresh_ttl_secs = 1;
        s.janitor.interval_secs = 1;
        s.security.lockout_window_secs = 1;
        s.security.account_guess_window_secs = 1;
        s.security.lockout_threshold = 1_000_000;
        s.security.ip_lockout_threshold = 1_000_000;
    })
    .await;
    let password = app.seed_alice().await;
    let tables = [
        "refresh_families",
        "revoked_access_tokens",
        "login_failures",
    ];

    // A steady load: logins (refresh tokens), revocations (revoked jtis), failures (counters).
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut round = 0;
    while start.elapsed() < Duration::from_secs(7) {
        let token = app.password_token("alice", password).await;
        app.post_form(
            "/revoke",
            &[("token", token["access_token"].as_str().unwrap())],
        )
        .await;
        let stranger = format!("stranger{round}");
        app.post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", &stranger),
                ("password", "x"),
            ],
        )
        .await;
        round += 1;
        if [3, 6].contains(&start.elapsed().as_secs())
            && samples.len() < start.elapsed().as_secs() as usize / 3
        {
            let mut counts = Vec::new();
            for table in tables {
                counts.push(count(&app.store, table).await);
            }
            samples.push((round, counts));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(samples.len(), 2, "{samples:?}");
    let (rounds_early, early) = &samples[0];
    let (rounds_late, late) = &samples[1];
    assert!(rounds_late > &(rounds_early + 10), "the load kept going");
    for ((table, early), late) in tables.iter().zip(early).zip(late) {
        // Everything issued in the first seconds has expired and been swept by the second sample.
        assert!(
            *late <= early * 3 / 2 + 20 && *late < *rounds_late as i64,
            "{table} keeps growing: {early} rows at round {rounds_early}, {late} at round {rounds_late}"
        );
    }

    // What it deleted shows in /metrics, by table, including the single-use markers.
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let swept_families = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("authd_janitor_deleted_total{table=\"refresh_families\"} ")
        })
        .and_then(|n| n.parse::<u64>().ok());
    assert!(swept_families.is_some_and(|n| n > 0), "{metrics}");
    for table in [
        "webauthn_challenges_used",
        "pushed_requests_used",
        "dpop_proofs",
    ] {
        let label = format!("authd_janitor_deleted_total{{table=\"{table}\"}} ");
        assert!(metrics.contains(&label), "{table} missing from {metrics}");
    }
}

backend_tests!(expired_rows_are_deleted_so_tables_stop_growing);
