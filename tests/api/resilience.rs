//! Outages, several instances on one database, and graceful shutdown.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use authd::config::DatabaseUrl;
use authd::tokens::KeyManager;
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDatabase, postgres_admin_url, test_settings};

/// A TCP proxy in front of PostgreSQL that a test can cut and restore, like a network outage.
struct OutageProxy {
    port: u16,
    up: watch::Sender<bool>,
}

impl OutageProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, state) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    break;
                };
                let mut state = state.clone();
                if !*state.borrow() {
                    continue; // dropped: the database is "down"
                }
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        OutageProxy { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

fn postgres_target() -> SocketAddr {
    use sqlx::postgres::PgConnectOptions;
    use std::net::ToSocketAddrs;
    use std::str::FromStr;
    let options = PgConnectOptions::from_str(&postgres_admin_url()).unwrap();
    format!("{}:{}", options.get_host(), options.get_port())
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503s_and_authd_recovers_without_a_restart() {
    if !Backend::Postgres.available() {
        return;
    }
    let database = TestDatabase::create(Backend::Postgres).await;
    let proxy = OutageProxy::start(postgres_target()).await;
    let mut settings = test_settings(&database);
    let path = database.url.rsplit_once('/').unwrap().1.to_owned();
    settings.database.url = DatabaseUrl::new(&format!(
        "postgres://postgres@127.0.0.1:{}/{path}",
        proxy.port
    ));
    settings.database.acquire_timeout_secs = 1;
    let app = TestApp::start(settings, database).await;
    let password = app.seed_alice().await;
    let token = app.password_token("alice", password).await;
    let access = token["access_token"].as_str().unwrap().to_owned();
    let secret = app.introspector_secret().await;

    proxy.set_up(false);

    for response in [
        app.post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ],
        )
        .await,
        app.post_form_basic(
            "/introspect",
            "introspector",
            &secret,
            &[("token", &access)],
        )
        .await,
        app.http.get(app.url("/readyz")).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert!(body.is_object(), "a JSON body");
    }
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    proxy.set_up(true);

    let start = Instant::now();
    loop {
        let ready = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if ready == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "authd did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.introspect(&access).await["active"], true);
    assert_eq!(
        app.password_token("alice", password).await["token_type"],
        "Bearer"
    );
}

async fn two_instances_on_one_database_behave_as_one_service(backend: Backend) {
    // Instances behind one load balancer share one configured issuer.
    let a = TestApp::spawn_with(backend, |s| {
        s.tokens.issuer = Some("http://authd.test".into())
    })
    .await;
    let b = a.another_instance().await;
    let admin = a.admin_token().await;
    let password = a.seed_alice().await;
    a.add_user("bob", "bob's password", &["reader"]).await;

    let from_a = a.password_token("alice", password).await;
    let access = from_a["access_token"].as_str().unwrap();
    assert_eq!(
        b.introspect(access).await["active"],
        true,
        "A's token is valid on B"
    );

    a.post_form("/revoke", &[("token", access)]).await;
    let start = Instant::now();
    while b.introspect(access).await["active"] == true {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "B missed A's revocation for 1 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let bobs = b.password_token("bob", "bob's password").await;
    let bobs_access = bobs["access_token"].as_str().unwrap();
    assert_eq!(
        b.introspect(bobs_access).await["active"],
        true,
        "B caches bob"
    );
    let disable = a
        .bearer(
            Method::PATCH,
            "/admin/users/bob",
            Some(&admin),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(disable.status(), 200);
    let start = Instant::now();
    while b.introspect(bobs_access).await["active"] == true {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "B missed A's disabling for 1 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let access = token_under_a_key_rotated_now(&b, password, Duration::from_secs(2)).await;
    assert_eq!(
        a.introspect(&access).await["active"],
        true,
        "B's new-key token verifies on A"
    );
}

/// Activates a new EdDSA key at once in `signer`'s database, as `authd keys rotate --now` on
/// another machine would, and returns alice's first access token `signer` signs with it, which it
/// must do within `within` (its periodic reload).
async fn token_under_a_key_rotated_now(
    signer: &TestApp,
    password: &str,
    within: Duration,
) -> String {
    let rotated = KeyManager::start(signer.store.clone(), &signer.settings)
        .await
        .unwrap()
        .rotate(Some(jsonwebtoken::Algorithm::EdDSA), true)
        .await
        .unwrap()
        .remove(0);
    let start = Instant::now();
    loop {
        let token = signer.password_token("alice", password).await;
        let access = token["access_token"].as_str().unwrap().to_owned();
        if jsonwebtoken::decode_header(&access).unwrap().kid.unwrap() == rotated.kid {
            return access;
        }
        assert!(
            start.elapsed() < within,
            "the signing instance did not pick up the rotation within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A key activated at once on one instance: the other accepts its tokens at the first one it
/// sees, not at its next periodic reload (an hour away here).
async fn a_token_under_another_instances_new_key_verifies_at_once(backend: Backend) {
    let slow = TestApp::spawn_with(backend, |s| {
        s.tokens.issuer = Some("http://authd.test".into());
        s.keys.reload_interval_ms = 3_600_000;
    })
    .await;
    let quick = slow
        .another_instance_with(|s| s.keys.reload_interval_ms = 100)
        .await;
    let password = slow.seed_alice().await;

    // Unknown kids cost strangers nothing: each is refused, and the key table is re-read at
    // most once a second whatever they send.
    let forged = {
        let real = quick.password_token("alice", password).await;
        let real = real["access_token"].as_str().unwrap().to_owned();
        let (_, rest) = real.split_once('.').unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"typ":"at+jwt","alg":"EdDSA","kid":"no-such-key"}"#);
        format!("{header}.{rest}")
    };
    let refusals = futures_util::future::join_all((0..20).map(|_| slow.introspect(&forged))).await;
    assert!(refusals.iter().all(|answer| answer["active"] == false));

    let access = token_under_a_key_rotated_now(&quick, password, Duration::from_secs(5)).await;
    // The forged burst above may have spent this second's re-read.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        slow.introspect(&access).await["active"],
        true,
        "a token under the new key verifies on the instance that has not reloaded"
    );
}

/// What strangers can make an instance do with made-up kids: at most one read of the key table a
/// second, however many arrive at once.
async fn unknown_kids_reread_the_key_table_at_most_once_a_second(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let keys = KeyManager::start(app.store.clone(), &app.settings)
        .await
        .unwrap();
    let reads = futures_util::future::join_all((0..50).map(|_| keys.reload_after_miss())).await;
    assert_eq!(reads.iter().filter(|read| **read).count(), 1, "{reads:?}");
    assert!(!keys.reload_after_miss().await, "again within the second");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(keys.reload_after_miss().await, "a second later");
}

backend_tests!(
    two_instances_on_one_database_behave_as_one_service,
    a_token_under_another_instances_new_key_verifies_at_once,
    unknown_kids_reread_the_key_table_at_most_once_a_second
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let authd = env!("CARGO_BIN_EXE_authd");
    let env = [
        (
            "AUTHD_DATABASE__URL",
            format!("sqlite://{}/authd.db", dir.path().display()),
        ),
        ("AUTHD_SERVER__BIND", format!("127.0.0.1:{port}")),
        ("AUTHD_SERVER__SHUTDOWN_GRACE_SECS", "10".into()),
        // A deliberately slow hash keeps the login in flight while SIGTERM arrives.
        ("AUTHD_PASSWORDS__MEMORY_KIB", "262144".into()),
        ("AUTHD_PASSWORDS__ITERATIONS", "8".into()),
        ("RUST_LOG", "warn".into()),
    ];
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(authd)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v.as_str())))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    };
    run(&["user", "add", "slow"], "slow password\n");
    let mut server = tokio::process::Command::new(authd)
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "authd did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let login = tokio::spawn({
        let http = http.clone();
        let base = base.clone();
        async move {
            let response = http
                .post(format!("{base}/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "slow"),
                    ("password", "slow password"),
                ])
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    let pid = server.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );

    let (status, finished) = login.await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(12), server.wait()).await;

    assert_eq!(status, 200, "the in-flight login finished");
    assert!(
        finished > signalled,
        "the login was still in flight when SIGTERM arrived"
    );
    assert!(exit.is_ok(), "authd did not exit within the grace period");
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "no longer accepting"
    );
}
