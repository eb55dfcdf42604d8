//! The network edge: metric labels clients cannot inflate, the forwarded address behind a proxy,
//! request body deadlines, the per-address connection cap, and private database and key files.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use authd::net::Cidr;
use authd::startup::Application;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDatabase, test_settings};

/// The address the tests' ordinary clients connect from.
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// A second loopback address (all of 127.0.0.0/8 is loopback on Linux): another client.
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn server_address(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

async fn connect_from(source: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(server).await.expect("connecting")
}

/// Everything the server sent until it closed the connection or `limit` passed.
struct Received {
    text: String,
    closed: bool,
    after: Duration,
}

async fn receive(mut reader: OwnedReadHalf, started: Instant, limit: Duration) -> Received {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = loop {
        let remaining = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, reader.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => bytes.extend_from_slice(&buffer[..n]),
            Err(_) => break false,
        }
    };
    Received {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        closed,
        after: started.elapsed(),
    }
}

/// How a slow client frames its body.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// `Content-Length: 1000`, then one byte at a time.
    Length,
    /// `Transfer-Encoding: chunked`, one chunk of one byte at a time, never the last chunk.
    Chunked,
}

/// A client that starts a form body on `/token` and sends it one byte at a time.
struct SlowBody {
    reader: OwnedReadHalf,
    trickle: JoinHandle<()>,
}

impl SlowBody {
    async fn start(source: IpAddr, server: SocketAddr, framing: Framing) -> SlowBody {
        let stream = connect_from(source, server).await;
        let (reader, mut writer) = stream.into_split();
        let (length, byte): (&str, &[u8]) = match framing {
            Framing::Length => ("Content-Length: 1000", b"p"),
            Framing::Chunked => ("Transfer-Encoding: chunked", b"1\r\np\r\n"),
        };
        let head = format!(
            "POST /token HTTP/1.1\r\nHost: authd.test\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n{length}\r\n\r\n"
        );
        let trickle = tokio::spawn(async move {
            if writer.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            // A 1000-byte body at this pace would take 100 s.
            while writer.write_all(byte).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        SlowBody { reader, trickle }
    }

    async fn outcome(self, started: Instant, limit: Duration) -> Received {
        let received = receive(self.reader, started, limit).await;
        self.trickle.abort();
        received
    }
}

// Finding 4: every distinct method used to become a histogram of its own, kept for good.
async fn invented_methods_and_unmatched_paths_do_not_become_metric_labels(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let invented: Vec<String> = (0..20)
        .map(|i| format!("X{i}{}", "M".repeat(2000)))
        .collect();
    let paths: Vec<String> = (0..20)
        .map(|_| format!("/nothing-{}", uuid::Uuid::new_v4().simple()))
        .collect();

    for (method, path) in invented.iter().zip(&paths) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for target in ["/token", path.as_str()] {
            let response = app
                .http
                .request(method.clone(), app.url(target))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_client_error());
        }
        app.http.get(app.url(path)).send().await.unwrap();
    }
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();

    // Other tests in this process share the metrics, so check every label value, not counts.
    let values = |label: &str| -> Vec<String> {
        let prefix = format!("{label}=\"");
        metrics
            .split(prefix.as_str())
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    };
    let standard = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other",
    ];
    let methods = values("method");
    assert!(
        methods.iter().all(|m| standard.contains(&m.as_str())),
        "a method label outside the standard ones: {:?}",
        methods.iter().find(|m| !standard.contains(&m.as_str()))
    );
    let routes = values("route");
    assert!(
        routes
            .iter()
            .all(|r| r == "unmatched" || (r.starts_with('/') && !r.contains("nothing-"))),
        "an unmatched path is a label"
    );
    assert!(
        !metrics.contains("MMMM"),
        "an invented method is in the scrape"
    );
    assert!(metrics.contains(r#"method="other",route="/token""#));
    assert!(metrics.contains(r#"method="GET",route="unmatched",status="404""#));
}

async fn failed_logins(app: &TestApp, auditor: &str, expected: usize) -> Vec<Value> {
    app.audit_rows(auditor, "login.failed", Duration::from_secs(3), |rows| {
        rows.len() >= expected
    })
    .await
}

/// A password grant that passed a proxy: the client's own `X-Forwarded-For` line, then the line
/// the proxy appended.
async fn login_through_proxy(
    app: &TestApp,
    client_line: &str,
    proxy_line: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/token"))
        .header("x-forwarded-for", client_line)
        .header("x-forwarded-for", proxy_line)
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

// Finding 9: with two header lines, the first (the client's own) used to be counted.
async fn with_two_forwarded_for_lines_the_proxys_entry_is_counted_and_audited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.security.trust_forwarded_for = true;
        s.security.ip_lockout_threshold = 3;
    })
    .await;
    let auditor = app.token_with_scopes(&["audit:read"]).await;
    let password = app.seed_alice().await;

    for (i, name) in ["ann", "ben", "cat"].iter().enumerate() {
        let forged = format!("198.51.100.{i}");
        let response = login_through_proxy(&app, &forged, "203.0.113.7", name, "guess").await;
        assert_eq!(response.status(), 400);
    }
    let throttled =
        login_through_proxy(&app, "198.51.100.99", "203.0.113.7", "alice", password).await;
    let elsewhere = login_through_proxy(
        &app,
        "203.0.113.7",
        "10.9.8.7, 203.0.113.8",
        "alice",
        password,
    )
    .await;

    assert_eq!(throttled.status(), 429, "the proxy's entry was not counted");
    assert_eq!(elsewhere.status(), 200, "an earlier entry was counted");
    let failures = failed_logins(&app, &auditor, 3).await;
    let addresses: Vec<&str> = failures
        .iter()
        .map(|event| event["ip"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(addresses, ["203.0.113.7"; 3], "{failures:?}");
}

// Finding 10: bodies had no deadline at all.
async fn a_trickled_body_is_answered_408_and_its_connection_closed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.server.request_body_timeout_secs = 1).await;
    let server = server_address(&app);
    let started = Instant::now();

    let length = SlowBody::start(CLIENT, server, Framing::Length).await;
    let chunked = SlowBody::start(CLIENT, server, Framing::Chunked).await;
    let (length, chunked) = tokio::join!(
        length.outcome(started, Duration::from_secs(5)),
        chunked.outcome(started, Duration::from_secs(5))
    );

    assert_cut_off(&length, Duration::from_secs(1));
    assert_cut_off(&chunked, Duration::from_secs(1));
}

/// The slow client got a 408 in the RFC 6749 shape after the deadline (not before, and not much
/// later: the server lingers at most its 1 s disconnect timeout), and the connection ended.
fn assert_cut_off(received: &Received, deadline: Duration) {
    assert!(
        received.text.starts_with("HTTP/1.1 408"),
        "{:?}",
        received.text
    );
    assert!(
        received.text.contains(r#""error":"invalid_request""#),
        "{}",
        received.text
    );
    assert!(received.closed, "the connection stayed open");
    assert!(
        received.after >= deadline.mul_f32(0.9)
            && received.after < deadline + Duration::from_secs(2),
        "closed after {:?}",
        received.after
    );
}

async fn slow_bodies_from_one_address_are_capped_and_healthz_still_answers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.server.request_body_timeout_secs = 3;
        s.server.max_connections_per_address = 8;
    })
    .await;
    let server = server_address(&app);
    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..40 {
        let framing = if i % 2 == 0 {
            Framing::Length
        } else {
            Framing::Chunked
        };
        clients.push(SlowBody::start(CLIENT, server, framing).await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(client.outcome(started, Duration::from_secs(8))))
        .collect();

    let probe = reqwest::Client::builder()
        .local_address(OTHER_CLIENT)
        .build()
        .unwrap();
    let health = tokio::time::timeout(
        Duration::from_secs(2),
        probe.get(app.url("/healthz")).send(),
    )
    .await
    .expect("/healthz did not answer within 2 s")
    .unwrap();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let after = app.http.get(app.url("/healthz")).send().await.unwrap();

    assert_eq!(health.status(), 200);
    let refused: Vec<_> = outcomes
        .iter()
        .filter(|r| r.text.is_empty() && r.closed)
        .collect();
    let timed_out: Vec<_> = outcomes
        .iter()
        .filter(|r| r.text.starts_with("HTTP/1.1 408"))
        .collect();
    assert_eq!(
        refused.len(),
        32,
        "connections over the cap were not closed"
    );
    assert!(
        refused.iter().all(|r| r.after < Duration::from_secs(2)),
        "refusing took {:?}",
        refused.iter().map(|r| r.after).max()
    );
    assert_eq!(timed_out.len(), 8, "admitted slow bodies were not answered");
    for received in timed_out {
        assert_cut_off(received, Duration::from_secs(3));
    }
    // The closed connections gave their slots back.
    assert_eq!(after.status(), 200);
}

/// Opens a keep-alive connection from `source`, asks `/healthz` and keeps the connection; `None`
/// when the server closed it without an answer.
async fn hold_connection(source: IpAddr, server: SocketAddr) -> Option<TcpStream> {
    let mut stream = connect_from(source, server).await;
    let request = "GET /healthz HTTP/1.1\r\nHost: authd.test\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return None;
    }
    let mut buffer = [0u8; 1024];
    match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await {
        Ok(Ok(n)) if n > 0 => {
            assert!(buffer.starts_with(b"HTTP/1.1 200"));
            Some(stream)
        }
        Ok(_) => None,
        Err(_) => panic!("neither answered nor closed within 2 s"),
    }
}

async fn trusted_proxies_are_exempt_from_the_connection_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.server.max_connections_per_address = 2;
        s.security.trusted_proxies = vec![Cidr::parse("127.0.0.1/32").unwrap()];
    })
    .await;
    let server = server_address(&app);

    let mut proxy = Vec::new();
    for _ in 0..6 {
        proxy.push(hold_connection(CLIENT, server).await);
    }
    let mut stranger = Vec::new();
    for _ in 0..3 {
        stranger.push(hold_connection(OTHER_CLIENT, server).await);
    }

    assert!(proxy.iter().all(Option::is_some), "the proxy was capped");
    let admitted = stranger.iter().filter(|c| c.is_some()).count();
    assert_eq!(admitted, 2, "an untrusted address was not capped");
}

backend_tests!(
    invented_methods_and_unmatched_paths_do_not_become_metric_labels,
    with_two_forwarded_for_lines_the_proxys_entry_is_counted_and_audited,
    a_trickled_body_is_answered_408_and_its_connection_closed,
    slow_bodies_from_one_address_are_capped_and_healthz_still_answers,
    trusted_proxies_are_exempt_from_the_connection_cap,
);

fn mode(path: &str) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .permissions()
        .mode()
        & 0o777
}

// Finding 13: the database, -wal and -shm were created 0644 beside a 0600 key file.
#[tokio::test]
async fn the_sqlite_database_and_its_wal_and_shm_files_are_private() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let path = database.name.clone();
    let app = TestApp::start(test_settings(&database), database).await;

    let password = app.seed_alice().await;
    app.password_token("alice", password).await;

    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        assert_eq!(mode(&file), 0o600, "{file}");
    }
}

#[tokio::test]
async fn a_key_file_others_can_read_stops_start_up_with_one_line() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&database);
    settings.keys.encryption_key = None;
    let kek = format!("{}.kek", database.name);
    std::fs::write(&kek, "dGVzdC1vbmx5LWtleS1lbmNyeXB0aW9uLWtleS0zMmI=\n").unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).unwrap();

    let error = Application::build(settings)
        .await
        .err()
        .expect("start-up must fail")
        .to_string();

    assert!(error.contains("refusing to start"), "{error}");
    assert!(error.contains(&kek), "{error}");
    assert!(!error.contains('\n'), "{error}");
}

#[test]
fn trusted_proxies_are_read_from_the_file_and_from_a_comma_separated_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authd.toml");
    std::fs::write(
        &file,
        "[security]\ntrusted_proxies = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"]\n",
    )
    .unwrap();
    let from_file = authd::config::Settings::load(Some(&file)).unwrap();
    std::fs::write(&file, "[security]\ntrusted_proxies = [\"10.0.0.0/33\"]\n").unwrap();
    let bad_file = authd::config::Settings::load(Some(&file)).unwrap_err();
    let migrate = |proxies: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_authd"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AUTHD_")) {
            command.env_remove(key);
        }
        command
            .current_dir(dir.path())
            .arg("migrate")
            .env("AUTHD_SECURITY__TRUSTED_PROXIES", proxies)
            .output()
            .unwrap()
    };

    let listed = migrate("10.0.0.0/8, 192.168.0.0/16");
    let malformed = migrate("10.0.0.0/8,not-a-network");

    assert_eq!(from_file.security.trusted_proxies.len(), 3);
    assert!(
        bad_file.to_string().contains("trusted_proxies"),
        "{bad_file}"
    );
    assert!(listed.status.success(), "{listed:?}");
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert!(!malformed.status.success());
    assert!(stderr.contains("trusted_proxies"), "{stderr}");
}
