//! Limits on password checking that hold under concurrency (issue 10, findings 2, 3 and 14, and
//! IPv6 throttling per /64): bursts cannot outrun the lockout, one address cannot take the
//! hashing threads, work for clients that left is dropped, and a disabled account is no oracle.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};
use crate::security::wait_for_audit;

fn login_form<'a>(username: &'a str, password: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ]
}

/// A password grant as if from `address` (the app trusts X-Forwarded-For in these tests).
async fn login_from(
    app: &TestApp,
    address: impl AsRef<str>,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/token"))
        .header("x-forwarded-for", address.as_ref())
        .form(&login_form(username, password))
        .send()
        .await
        .expect("request failed")
}

async fn audit_count(app: &TestApp, admin: &str, action: &str, actor_prefix: &str) -> usize {
    // Audit events are written in batches; give the last batch time to land.
    tokio::time::sleep(Duration::from_millis(600)).await;
    wait_for_audit(app, admin, action)
        .await
        .iter()
        .filter(|event| {
            event["actor"]
                .as_str()
                .is_some_and(|actor| actor.starts_with(actor_prefix))
        })
        .count()
}

/// Lockout on, hashing limits out of the way: only the lockout decides.
fn lockout_only(s: &mut authd::config::Settings) {
    s.security.trust_forwarded_for = true;
    s.security.lockout_threshold = 5;
    s.security.ip_lockout_threshold = 50;
    s.passwords.max_queued_hashes = 10_000;
    s.passwords.max_hashes_per_address = 10_000;
}

async fn a_burst_of_guesses_gets_no_more_evaluations_than_the_threshold(backend: Backend) {
    let app = TestApp::spawn_with(backend, lockout_only).await;
    let password = app.seed_alice().await;
    let admin = app.admin_token().await;

    // 300 wrong passwords at once, from one address, then the right one.
    let guesses = (0..300).map(|_| login_from(&app, "198.51.100.7", "alice", "wrong guess"));
    let answers = join_all(guesses).await;
    let right = login_from(&app, "198.51.100.7", "alice", password).await;

    let evaluated = answers.iter().filter(|r| r.status() == 400).count();
    assert!(
        evaluated <= 5,
        "{evaluated} guesses were checked; the threshold is 5"
    );
    assert!(
        answers
            .iter()
            .all(|r| [400, 429].contains(&r.status().as_u16()))
    );
    assert_eq!(
        right.status(),
        429,
        "the right password came after the lock"
    );
    assert!(audit_count(&app, &admin, "login.failed", "alice").await <= 5);
}

async fn a_burst_over_many_usernames_gets_no_more_than_the_address_threshold(backend: Backend) {
    let app = TestApp::spawn_with(backend, lockout_only).await;
    let admin = app.admin_token().await;
    let usernames: Vec<String> = (0..300).map(|i| format!("spray{i}")).collect();

    let guesses = usernames
        .iter()
        .map(|username| login_from(&app, "198.51.100.8", username, "Winter2026!"));
    let answers = join_all(guesses).await;

    let evaluated = answers.iter().filter(|r| r.status() == 400).count();
    assert!(
        evaluated <= 50,
        "{evaluated} guesses were checked; the threshold is 50"
    );
    assert!(audit_count(&app, &admin, "login.failed", "spray").await <= 50);
}

async fn a_success_inside_a_burst_does_not_leave_the_owner_locked_at_the_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, lockout_only).await;
    let password = app.seed_alice().await;
    let base = app.settings.security.lockout_base_secs as i64;

    // The owner's login lands in the middle of a burst of guesses from the same address (one
    // office behind one NAT).
    let mut requests: Vec<_> = (0..30)
        .map(|_| login_from(&app, "198.51.100.10".to_owned(), "alice", "wrong guess"))
        .collect();
    requests.insert(
        2,
        login_from(&app, "198.51.100.10".to_owned(), "alice", password),
    );
    join_all(requests).await;

    let next = login_from(&app, "198.51.100.10", "alice", "wrong guess").await;
    if next.status() == 429 {
        let retry_after: i64 = next.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            retry_after <= base,
            "locked for {retry_after} s after one burst; one lock lasts {base} s"
        );
    }
}

async fn ipv6_addresses_are_throttled_per_64(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        lockout_only(s);
        s.security.ip_lockout_threshold = 5;
    })
    .await;
    // Five addresses of one /64, one guess each, at five usernames.
    for i in 1..=5 {
        let response = login_from(&app, &format!("2001:db8:7:7::{i}"), &format!("u{i}"), "x").await;
        assert_oauth_error(response, 400, "invalid_grant").await;
    }

    let same_64 = login_from(&app, "2001:db8:7:7:ffff::1", "fresh", "x").await;
    let other_64 = login_from(&app, "2001:db8:7:8::1", "fresh", "x").await;

    assert_eq!(
        same_64.status(),
        429,
        "a new address in the same /64 is the same subscriber"
    );
    assert_oauth_error(other_64, 400, "invalid_grant").await;
}

/// Hashing slow enough that requests pile up, on one thread.
fn slow_hashing(s: &mut authd::config::Settings) {
    s.security.trust_forwarded_for = true;
    s.security.lockout_threshold = 1_000_000;
    s.security.ip_lockout_threshold = 1_000_000;
    s.passwords.memory_kib = 8 * 1024;
    // A few hundred milliseconds per hash: a burst arrives well within one.
    s.passwords.iterations = 40;
    s.passwords.max_concurrent_hashes = 1;
}

async fn one_address_gets_only_its_share_of_password_hashing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        slow_hashing(s);
        s.passwords.max_hashes_per_address = 2;
    })
    .await;
    let password = app.seed_alice().await;

    let flood = (0..20).map(|_| login_from(&app, "203.0.113.66", "alice", "wrong guess"));
    let (answers, other) = tokio::join!(join_all(flood), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        login_from(&app, "192.0.2.20", "alice", password).await
    });

    assert_eq!(
        other.status(),
        200,
        "another address still gets its login checked"
    );
    let busy: Vec<_> = answers.into_iter().filter(|r| r.status() == 503).collect();
    assert!(busy.len() >= 15, "only {} of 20 were refused", busy.len());
    let busy = busy.into_iter().next().unwrap();
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_oauth_error(busy, 503, "temporarily_unavailable").await;
}

async fn a_full_hashing_queue_answers_503_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        slow_hashing(s);
        s.passwords.max_queued_hashes = 2;
    })
    .await;

    let flood = (0..20).map(|i| login_from(&app, format!("203.0.113.{i}"), "alice", "wrong guess"));
    let answers = join_all(flood).await;

    let busy = answers.iter().filter(|r| r.status() == 503).count();
    assert!(
        busy >= 10,
        "only {busy} of 20 were refused with a queue of 2"
    );
    assert!(
        answers
            .iter()
            .all(|r| [400, 503].contains(&r.status().as_u16()))
    );
}

async fn logins_whose_clients_hung_up_are_not_hashed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        slow_hashing(s);
        s.passwords.max_queued_hashes = 1000;
    })
    .await;
    let admin = app.admin_token().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();

    // 60 logins from 60 addresses, each on a connection closed right after the request.
    for i in 0..60 {
        let body = format!("grant_type=password&username=gone{i}&password=wrong");
        let request = format!(
            "POST /token HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 203.0.113.{i}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        drop(stream);
    }
    // A legitimate login after them; its answer means the queue ahead of it is done.
    let started = Instant::now();
    let response = login_from(&app, "192.0.2.30", "nobody", "x").await;
    assert_eq!(response.status(), 400);

    let hashed = audit_count(&app, &admin, "login.failed", "gone").await;
    assert!(
        hashed <= 10,
        "{hashed} of 60 abandoned logins were hashed anyway ({:?} wait)",
        started.elapsed()
    );
}

async fn a_disabled_account_answers_like_a_wrong_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let admin = app.admin_token().await;
    app.store
        .set_disabled(&authd::domain::Username::parse("alice").unwrap(), true, 1)
        .await
        .unwrap();

    let right = app
        .post_form("/token", &login_form("alice", password))
        .await;
    let wrong = app
        .post_form("/token", &login_form("alice", "wrong one"))
        .await;

    let right: Value = assert_oauth_error(right, 400, "invalid_grant").await;
    let wrong: Value = assert_oauth_error(wrong, 400, "invalid_grant").await;
    assert_eq!(right, wrong, "the answer must not confirm the password");
    // The audit trail tells them apart for the operator.
    assert_eq!(
        audit_count(&app, &admin, "login.disabled", "alice").await,
        1
    );
    assert_eq!(audit_count(&app, &admin, "login.failed", "alice").await, 1);
}

async fn an_attacker_on_one_address_cannot_lock_out_the_owner_on_another(backend: Backend) {
    let app = TestApp::spawn_with(backend, lockout_only).await;
    let password = app.seed_alice().await;
    for _ in 0..5 {
        let guess = login_from(&app, "198.51.100.66", "alice", "wrong guess").await;
        assert_oauth_error(guess, 400, "invalid_grant").await;
    }

    let attacker = login_from(&app, "198.51.100.66", "alice", password).await;
    let owner = login_from(&app, "192.0.2.44", "alice", password).await;

    assert_eq!(attacker.status(), 429, "the attacker's own pair is locked");
    assert_eq!(owner.status(), 200, "the owner elsewhere is not");
}

/// A small budget, so that a test can spend it.
fn small_budget(s: &mut authd::config::Settings) {
    lockout_only(s);
    s.security.account_guess_budget = 20;
}

async fn spend_the_budget(app: &TestApp) {
    for i in 0..20 {
        let guess = login_from(app, format!("203.0.113.{i}"), "alice", "wrong guess").await;
        assert_oauth_error(guess, 400, "invalid_grant").await;
    }
}

async fn the_guess_budget_holds_against_many_addresses(backend: Backend) {
    let app = TestApp::spawn_with(backend, small_budget).await;
    let password = app.seed_alice().await;
    let admin = app.admin_token().await;

    spend_the_budget(&app).await;
    let more = join_all(
        (20..60).map(|i| login_from(&app, format!("203.0.113.{i}"), "alice", "wrong guess")),
    )
    .await;
    let stranger_with_the_password = login_from(&app, "198.51.100.99", "alice", password).await;

    assert!(
        more.iter().all(|r| r.status() == 429),
        "the budget was exceeded"
    );
    let retry_after: i64 = more[0].headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_after > 3600,
        "refused until the day's window ends, not {retry_after} s"
    );
    assert_eq!(stranger_with_the_password.status(), 429);
    assert!(audit_count(&app, &admin, "login.budget_spent", "alice").await >= 40);
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("authd_guess_budget_refusals_total"));
}

async fn a_spent_budget_still_lets_the_owner_in_from_a_known_address_or_device(backend: Backend) {
    let app = TestApp::spawn_with(backend, small_budget).await;
    let password = app.seed_alice().await;
    // Yesterday's sign-ins: one from home, one from a browser that keeps its device cookie.
    assert_eq!(
        login_from(&app, "192.0.2.80", "alice", password)
            .await
            .status(),
        200
    );
    let browser = login_from(&app, "198.51.100.200", "alice", password).await;
    assert_eq!(browser.status(), 200);
    let set_cookie = browser.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let device_cookie = set_cookie.split(';').next().unwrap().to_owned();

    spend_the_budget(&app).await;
    let from_home = login_from(&app, "192.0.2.80", "alice", password).await;
    let from_a_cafe_with_the_device = app
        .http
        .post(app.url("/token"))
        .header("x-forwarded-for", "198.51.100.201")
        .header("cookie", &device_cookie)
        .form(&login_form("alice", password))
        .send()
        .await
        .unwrap();
    let from_a_cafe_without = login_from(&app, "198.51.100.202", "alice", password).await;
    let forged = app
        .http
        .post(app.url("/token"))
        .header("x-forwarded-for", "198.51.100.203")
        .header("cookie", device_cookie.replace('.', ".x"))
        .form(&login_form("alice", password))
        .send()
        .await
        .unwrap();

    assert_eq!(from_home.status(), 200);
    assert_eq!(from_a_cafe_with_the_device.status(), 200);
    assert_eq!(from_a_cafe_without.status(), 429);
    assert_eq!(forged.status(), 429);
}

async fn two_instances_share_the_pair_lock_and_the_guess_budget(backend: Backend) {
    let a = TestApp::spawn_with(backend, small_budget).await;
    let b = a.another_instance().await;
    let password = a.seed_alice().await;

    for i in 0..3 {
        login_from(&a, "198.51.100.5", "alice", "wrong").await;
        login_from(&b, format!("203.0.113.{i}"), "alice", "wrong").await;
    }
    for _ in 0..2 {
        login_from(&b, "198.51.100.5", "alice", "wrong").await;
    }
    assert_eq!(
        login_from(&b, "198.51.100.5", "alice", password)
            .await
            .status(),
        429
    );
    assert_eq!(
        login_from(&a, "192.0.2.9", "alice", password)
            .await
            .status(),
        200
    );

    for i in 10..30 {
        let instance = if i % 2 == 0 { &a } else { &b };
        login_from(instance, format!("203.0.113.{i}"), "alice", "wrong").await;
    }
    assert_eq!(
        login_from(&a, "198.51.100.77", "alice", password)
            .await
            .status(),
        429
    );
    assert_eq!(
        login_from(&b, "198.51.100.78", "alice", password)
            .await
            .status(),
        429
    );
}

backend_tests!(
    a_burst_of_guesses_gets_no_more_evaluations_than_the_threshold,
    a_burst_over_many_usernames_gets_no_more_than_the_address_threshold,
    a_success_inside_a_burst_does_not_leave_the_owner_locked_at_the_cap,
    ipv6_addresses_are_throttled_per_64,
    one_address_gets_only_its_share_of_password_hashing,
    a_full_hashing_queue_answers_503_at_once,
    logins_whose_clients_hung_up_are_not_hashed,
    a_disabled_account_answers_like_a_wrong_password,
    an_attacker_on_one_address_cannot_lock_out_the_owner_on_another,
    the_guess_budget_holds_against_many_addresses,
    a_spent_budget_still_lets_the_owner_in_from_a_known_address_or_device,
    two_instances_share_the_pair_lock_and_the_guess_budget,
);
