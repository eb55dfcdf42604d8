//! Durability: what authd acknowledged with a 2xx is still there after `kill -9` and a restart,
//! and every pooled SQLite connection commits in the configured `database.sqlite_synchronous`.
//!
//! A process kill cannot show what `synchronous = FULL` adds: a killed process's commits are
//! already in the operating system's page cache, which survives it under either mode. Only a
//! power cut (or a kernel crash) loses what was not yet synced, and a test cannot cut the power.
//! So the crash test proves that an acknowledgement follows the commit (never precedes it), on
//! both backends, and the pool tests prove that every connection runs with the mode asked for.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use authd::config::SqliteSynchronous;
use authd::credentials::hash_secret;
use authd::store::Store;
use authd::tokens::family_secret_of;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, INTROSPECTOR, TEST_KEK, TestApp, TestDatabase, test_settings};

/// `PRAGMA synchronous` of `held` connections of the pool, all held at once (so all distinct).
async fn pooled_modes(mode: Option<SqliteSynchronous>, held: usize) -> Vec<i64> {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&database);
    settings.database.max_connections = held as u32;
    if let Some(mode) = mode {
        settings.database.sqlite_synchronous = mode;
    }
    let Store::Sqlite(pool) = Store::connect(&settings.database).await.unwrap() else {
        panic!("a sqlite:// URL opens a SQLite store");
    };
    let mut connections = Vec::new();
    for _ in 0..held {
        connections.push(pool.acquire().await.unwrap());
    }
    assert_eq!(pool.size() as usize, held, "{held} distinct connections");
    let mut modes = Vec::new();
    for connection in &mut connections {
        let mode: i64 = sqlx::query_scalar("pragma synchronous")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        let journal: String = sqlx::query_scalar("pragma journal_mode")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        modes.push(mode);
    }
    modes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pooled_sqlite_connection_commits_with_full_by_default() {
    // SQLite's numbering: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
    assert_eq!(pooled_modes(None, 5).await, vec![2; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pooled_sqlite_connection_commits_with_normal_when_configured() {
    let modes = pooled_modes(Some(SqliteSynchronous::Normal), 5).await;
    assert_eq!(modes, vec![1; 5]);
    let extra = pooled_modes(Some(SqliteSynchronous::Extra), 3).await;
    assert_eq!(extra, vec![3; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_normal_mode_is_warned_about_and_full_is_not() {
    for (mode, warned) in [
        (SqliteSynchronous::Normal, true),
        (SqliteSynchronous::Full, false),
    ] {
        let database = TestDatabase::create(Backend::Sqlite).await;
        let mut settings = test_settings(&database);
        settings.database.sqlite_synchronous = mode;
        let store = Store::connect(&settings.database).await.unwrap();
        let warnings = store.durability_warnings().await.unwrap();
        assert_eq!(!warnings.is_empty(), warned, "{mode:?}: {warnings:?}");
        if warned {
            assert!(
                warnings[0].contains("database.sqlite_synchronous"),
                "{warnings:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_synchronous_commit_off_is_warned_about() {
    if !Backend::Postgres.available() {
        return;
    }
    let database = TestDatabase::create(Backend::Postgres).await;
    let settings = test_settings(&database);
    let store = Store::connect(&settings.database).await.unwrap();
    let before = store.durability_warnings().await.unwrap();
    assert!(
        !before.iter().any(|w| w.contains("synchronous_commit")),
        "the test server runs with synchronous_commit on: {before:?}"
    );
    store.close().await;
    let Store::Postgres(pool) = Store::connect(&settings.database).await.unwrap() else {
        panic!("a postgres:// URL opens a PostgreSQL store");
    };
    let sql = format!(
        r#"alter database "{}" set synchronous_commit = off"#,
        database.name
    );
    sqlx::query(&sql).execute(&pool).await.unwrap();
    pool.close().await;

    // New sessions take the database's setting.
    let store = Store::connect(&settings.database).await.unwrap();
    let warnings = store.durability_warnings().await.unwrap();

    assert!(
        warnings
            .iter()
            .any(|w| w.contains("synchronous_commit = off")),
        "{warnings:?}"
    );
}

/// A `target/debug/authd serve` process, as an operator runs it.
struct Server {
    child: tokio::process::Child,
    base: String,
    /// What it wrote to stderr (warnings and errors).
    log: tempfile::NamedTempFile,
}

/// The issuer of every instance, so tokens survive a restart on another port.
const ISSUER: &str = "http://authd.test";

impl Server {
    async fn start(database: &TestDatabase) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_authd"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AUTHD_")) {
            command.env_remove(key);
        }
        command
            .arg("serve")
            .env("RUST_LOG", "warn")
            .env("AUTHD_DATABASE__URL", &database.url)
            .env("AUTHD_KEYS__ENCRYPTION_KEY", TEST_KEK)
            .env("AUTHD_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("AUTHD_TOKENS__ISSUER", ISSUER)
            .env("AUTHD_PASSWORDS__MEMORY_KIB", "256")
            .env("AUTHD_PASSWORDS__ITERATIONS", "1")
            .env("AUTHD_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "0")
            // Checking that old passwords fail counts as failed logins; they must not lock.
            .env("AUTHD_SECURITY__LOCKOUT_THRESHOLD", "1000")
            .env("AUTHD_SECURITY__IP_LOCKOUT_THRESHOLD", "100000")
            .stdout(Stdio::null())
            .kill_on_drop(true);
        let log = tempfile::NamedTempFile::new().unwrap();
        command.stderr(log.reopen().unwrap());
        let child = command.spawn().expect("starting authd serve");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            let ready = http.get(format!("{}/readyz", server.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "authd serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown hook, no flush, no graceful close of the pool.
    async fn kill_hard(mut self) {
        let pid = self.child.id().expect("still running") as libc::pid_t;
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let status = self.child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    }
}

/// A client of one running authd.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: Arc<str>,
}

impl Client {
    fn of(server: &Server) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base: server.base.as_str().into(),
        }
    }

    fn form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).form(form)
    }

    fn admin(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// The status and JSON body of a request that must get an answer.
    async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("authd answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self, user: &str, password: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ];
        Self::answer(self.form("/token", &form)).await
    }

    async fn refresh(&self, token: &str) -> (u16, Value) {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
        Self::answer(self.form("/token", &form)).await
    }

    async fn introspect(&self, secret: &str, token: &str) -> Value {
        let request = self
            .form("/introspect", &[("token", token)])
            .basic_auth(INTROSPECTOR, Some(secret));
        let (status, body) = Self::answer(request).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// What one sequential stream of changes got acknowledged.
#[derive(Debug)]
struct Acknowledged<T> {
    /// Every change answered 2xx, in order.
    values: Vec<T>,
    /// Whether the change after the last one was sent and got no answer: it may have committed.
    in_flight: bool,
}

/// What a stream acknowledged, once authd is gone.
async fn collect<T>(handle: tokio::task::JoinHandle<Acknowledged<T>>) -> Acknowledged<T> {
    tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .expect("every stream ends with authd")
        .expect("no stream panicked")
}

/// Sends one change; `Err(in_flight)` once authd is gone.
async fn send(request: reqwest::RequestBuilder) -> Result<Value, bool> {
    let response = match request.send().await {
        Ok(response) => response,
        // A connect error means the request never reached authd.
        Err(error) => return Err(!error.is_connect()),
    };
    let status = response.status();
    let Ok(body) = response.bytes().await else {
        // The status line came but not the body: the change happened, its answer is lost.
        return Err(true);
    };
    assert!(
        status.is_success(),
        "a change was refused before the kill: {status} {}",
        String::from_utf8_lossy(&body)
    );
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Runs `change(state, n)` for n = 1, 2, ... until authd is gone; each success acknowledges one
/// value and hands on the next state. Counts acknowledgements in `progress`.
async fn stream<S, T, F, Fut>(
    progress: Arc<AtomicUsize>,
    mut state: S,
    mut change: F,
) -> Acknowledged<T>
where
    F: FnMut(S, usize) -> Fut,
    Fut: std::future::Future<Output = Result<(S, T), bool>>,
{
    let mut values = Vec::new();
    for n in 1.. {
        match change(state, n).await {
            Ok((next, value)) => {
                state = next;
                values.push(value);
                progress.fetch_add(1, Ordering::Relaxed);
            }
            Err(in_flight) => return Acknowledged { values, in_flight },
        }
    }
    unreachable!("the loop ends when authd does")
}

const PROFILES: usize = 2;
const CHAINS: usize = 3;
const REVOKERS: usize = 2;
const PASSWORD: &str = "correct horse battery";

fn changed_password(n: usize) -> String {
    format!("password number {n}")
}

/// The generation a refresh token carries (`<family>~<generation>~<secret>`).
fn generation_of(token: &str) -> i64 {
    token.split('~').nth(1).unwrap().parse().unwrap()
}

async fn acknowledged_writes_survive_kill_9_and_a_restart(backend: Backend) {
    // Arrange: users for each kind of change, seeded in the store; authd as a separate process.
    let app = TestApp::spawn(backend).await;
    let introspector = app.introspector_secret().await;
    app.add_role("reader", &["items:read"]).await;
    app.add_role("root", &authd::domain::ADMIN_SCOPES).await;
    app.add_user("root", PASSWORD, &["root"]).await;
    app.add_user("changer", &changed_password(0), &["reader"])
        .await;
    let names = |kind: &str, count: usize| -> Vec<String> {
        (0..count).map(|i| format!("{kind}{i}")).collect()
    };
    for user in [
        names("profile", PROFILES),
        names("chain", CHAINS),
        names("revoker", REVOKERS),
    ]
    .concat()
    {
        app.add_user(&user, PASSWORD, &["reader"]).await;
    }
    let server = Server::start(&app.database).await;
    let client = Client::of(&server);
    let admin = client.login("root", PASSWORD).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut first_tokens = Vec::new();
    for user in names("chain", CHAINS) {
        first_tokens.push(client.login(&user, PASSWORD).await.1["refresh_token"].clone());
    }
    let mut kept = Vec::new();
    for user in names("revoker", REVOKERS) {
        kept.push(client.login(&user, PASSWORD).await.1["access_token"].clone());
    }

    // Act: a steady stream of every kind of change, then SIGKILL in the middle of it.
    let progress: Vec<Arc<AtomicUsize>> = (0..PROFILES + 1 + CHAINS + REVOKERS)
        .map(|_| Arc::default())
        .collect();
    let mut counters = progress.iter().cloned();
    let profiles: Vec<_> = names("profile", PROFILES)
        .into_iter()
        .map(|user| {
            let (client, admin) = (client.clone(), admin.clone());
            tokio::spawn(stream(counters.next().unwrap(), (), move |(), n| {
                let request = client
                    .admin(Method::PATCH, &format!("/admin/users/{user}"), &admin)
                    .json(&json!({
                        "full_name": format!("version {n}"),
                        "email": format!("{user}.v{n}@example.test"),
                    }));
                async move { send(request).await.map(|_| ((), n)) }
            }))
        })
        .collect();
    let passwords = {
        let (client, admin) = (client.clone(), admin.clone());
        tokio::spawn(stream(counters.next().unwrap(), (), move |(), n| {
            let request = client
                .admin(Method::PATCH, "/admin/users/changer", &admin)
                .json(&json!({"password": changed_password(n)}));
            async move { send(request).await.map(|_| ((), n)) }
        }))
    };
    let chains: Vec<_> = first_tokens
        .iter()
        .map(|first| {
            let client = client.clone();
            let first = first.as_str().unwrap().to_owned();
            tokio::spawn(stream(
                counters.next().unwrap(),
                first,
                move |current, _| {
                    let form = [("grant_type", "refresh_token"), ("refresh_token", &current)];
                    let request = client.form("/token", &form);
                    async move {
                        let body = send(request).await?;
                        let next = body["refresh_token"].as_str().unwrap().to_owned();
                        Ok((next.clone(), next))
                    }
                },
            ))
        })
        .collect();
    // Each change revokes one token: a fresh login's access token, then its refresh token.
    let revokers: Vec<_> = names("revoker", REVOKERS)
        .into_iter()
        .map(|user| {
            let client = client.clone();
            let pending: Option<String> = None;
            tokio::spawn(stream(
                counters.next().unwrap(),
                pending,
                move |pending, _| {
                    let (client, user) = (client.clone(), user.clone());
                    async move {
                        let (token, next) = match pending {
                            Some(refresh) => (refresh, None),
                            None => {
                                let form = [
                                    ("grant_type", "password"),
                                    ("username", user.as_str()),
                                    ("password", PASSWORD),
                                ];
                                let tokens = send(client.form("/token", &form)).await?;
                                let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
                                let access = tokens["access_token"].as_str().unwrap().to_owned();
                                (access, Some(refresh))
                            }
                        };
                        // RFC 7009 section 2.1: a public client names itself.
                        let form = [("token", token.as_str()), ("client_id", "public")];
                        send(client.form("/revoke", &form)).await?;
                        Ok((next, token))
                    }
                },
            ))
        })
        .collect();

    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1)
        || progress.iter().any(|p| p.load(Ordering::Relaxed) < 3)
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "too little progress before the kill: {progress:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill_hard().await;
    let mut profile_acks = Vec::new();
    for handle in profiles {
        profile_acks.push(collect(handle).await);
    }
    let password_acks = collect(passwords).await;
    let mut chain_acks = Vec::new();
    for handle in chains {
        chain_acks.push(collect(handle).await);
    }
    let mut revoked = Vec::new();
    for handle in revokers {
        revoked.push(collect(handle).await);
    }

    // Assert: on a restarted authd and a fresh connection, every acknowledged change is there.
    let server = Server::start(&app.database).await;
    let client = Client::of(&server);
    let store = Store::connect(&app.settings.database).await.unwrap();

    // Profiles: the acknowledged version, or the one in flight at the kill.
    for (user, acks) in names("profile", PROFILES).iter().zip(&profile_acks) {
        let acked = *acks.values.last().unwrap();
        let request = client.admin(Method::GET, &format!("/admin/users/{user}"), &admin);
        let (status, body) = Client::answer(request).await;
        assert_eq!(status, 200, "{body}");
        let version: usize = body["full_name"].as_str().unwrap()["version ".len()..]
            .parse()
            .unwrap();
        assert!(
            version == acked || (acks.in_flight && version == acked + 1),
            "{user}: version {version} after {acked} acknowledged ({acks:?})"
        );
        assert_eq!(body["email"], format!("{user}.v{version}@example.test"));
    }

    // Password: the acknowledged one works (or the one in flight), the one before does not.
    let acked = *password_acks.values.last().unwrap();
    let (status, _) = client.login("changer", &changed_password(acked)).await;
    if status != 200 {
        assert!(
            password_acks.in_flight,
            "password {acked} was acknowledged, yet refused"
        );
        let (later, body) = client.login("changer", &changed_password(acked + 1)).await;
        assert_eq!(
            later, 200,
            "neither the acknowledged nor the later password: {body}"
        );
    } else if password_acks.in_flight {
        let (later, _) = client.login("changer", &changed_password(acked + 1)).await;
        assert_eq!(later, 400, "two passwords at once");
    }
    let (old, body) = client.login("changer", &changed_password(acked - 1)).await;
    assert_eq!((old, body["error"].as_str()), (400, Some("invalid_grant")));

    // Refresh families: the family holds the acknowledged token as current (or the in-flight
    // successor), the new token works exactly once, and the tokens before it are refused.
    for (first, acks) in first_tokens.iter().zip(&chain_acks) {
        let newest = acks.values.last().unwrap();
        let before = &acks.values[acks.values.len() - 2];
        let family_hash = hash_secret(family_secret_of(newest).unwrap());
        let family = store
            .find_refresh_family_by_secret(&family_hash)
            .await
            .unwrap()
            .expect("an acknowledged family is never lost");
        let current = family.current_hash == hash_secret(newest);
        assert_eq!(
            family.generation,
            generation_of(newest) + i64::from(!current)
        );
        assert!(current || acks.in_flight, "{acks:?}");
        if current {
            let (status, body) = client.refresh(newest).await;
            assert_eq!(status, 200, "the acknowledged refresh token works: {body}");
            let successor = body["refresh_token"].as_str().unwrap().to_owned();
            // Once the successor is used, `newest` is no retry (refresh_retry.rs) but reuse.
            let (status, body) = client.refresh(&successor).await;
            assert_eq!(status, 200, "the successor works: {body}");
            let last = body["refresh_token"].as_str().unwrap().to_owned();
            let (again, body) = client.refresh(newest).await;
            assert_eq!(
                (again, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
            // Its replay was reuse: the whole family has ended (RFC 9700 section 4.14.2).
            let (status, _) = client.refresh(&last).await;
            assert_eq!(status, 400, "the family ended at the replay");
        }
        for old in [before.as_str(), first.as_str().unwrap()] {
            let (status, body) = client.refresh(old).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        }
        assert!(
            store
                .find_refresh_family_by_secret(&family_hash)
                .await
                .unwrap()
                .is_none(),
            "reuse ended the family in the database too"
        );
    }

    // Revocations: every acknowledged one holds; the tokens never revoked still work.
    let mut checked = 0;
    for acks in &revoked {
        for token in &acks.values {
            let answer = client.introspect(&introspector, token).await;
            assert_eq!(answer, json!({"active": false}), "revoked {token:.20}…");
            if family_secret_of(token).is_some() {
                let (status, body) = client.refresh(token).await;
                assert_eq!(
                    (status, body["error"].as_str()),
                    (400, Some("invalid_grant"))
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 3 * REVOKERS, "{checked} revocations checked");
    for token in &kept {
        let answer = client
            .introspect(&introspector, token.as_str().unwrap())
            .await;
        assert_eq!(answer["active"], true, "a token never revoked");
    }
    let (status, _) = Client::answer(client.admin(Method::GET, "/me", &admin)).await;
    assert_eq!(
        status, 200,
        "the admin token from before the kill still works"
    );
}

backend_tests!(
    acknowledged_writes_survive_kill_9_and_a_restart,
    sigterm_writes_every_audit_event_before_exiting
);

/// SIGTERM: authd answers what is in flight, then writes the audit events of the last requests
/// before it exits. On PostgreSQL the pool's connections belong to the runtime that opened them,
/// and the workers' runtimes are gone by then: the last write must not depend on theirs.
async fn sigterm_writes_every_audit_event_before_exiting(backend: Backend) {
    // As many as one address may have hashed at once (`passwords.max_hashes_per_address`).
    const USERS: usize = 8;
    let app = TestApp::spawn(backend).await;
    app.add_role("reader", &["items:read"]).await;
    for n in 0..USERS {
        app.add_user(&format!("user{n}"), PASSWORD, &["reader"])
            .await;
    }
    let service_secret = app.introspector_secret().await;

    // Which connection the writer's last batch gets is the pool's choice: three runs, so that a
    // writer that could get one of the workers' is caught.
    let mut issued = 0;
    for run in 0..3 {
        let mut server = Server::start(&app.database).await;
        let client = Client::of(&server);

        // Act: every user signs in at once (the worker reads each from the database, so it opens
        // the pool's connections), three times; then a service takes tokens, whose issuances
        // the audit trail coalesces into one row per second, held until the second is over.
        // SIGTERM as soon as the last answer is in, while that row still waits.
        for _ in 0..3 {
            let logins: Vec<_> = (0..USERS)
                .map(|n| {
                    let client = client.clone();
                    tokio::spawn(async move { client.login(&format!("user{n}"), PASSWORD).await.0 })
                })
                .collect();
            for login in logins {
                assert_eq!(login.await.unwrap(), 200);
                issued += 1;
            }
        }
        for _ in 0..20 {
            let request = client
                .form("/token", &[("grant_type", "client_credentials")])
                .basic_auth(INTROSPECTOR, Some(&service_secret));
            assert_eq!(Client::answer(request).await.0, 200);
            issued += 1;
        }
        let pid = server.child.id().expect("still running") as libc::pid_t;
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
            .await
            .expect("authd exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "{status:?}");

        // Assert: one token.issued occurrence per token, written before the exit.
        let sql = "select cast(coalesce(sum(occurrences), 0) as bigint) from audit_events \
                   where action = 'token.issued'";
        let written: i64 = match &app.store {
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        };
        let log = std::fs::read_to_string(server.log.path()).unwrap();
        assert_eq!(
            written, issued,
            "run {run}: every audit event written\n{log}"
        );
        // Not even a retry: the writer's connections outlive the workers.
        assert!(!log.contains("authd::audit"), "run {run}: {log}");
    }
}
