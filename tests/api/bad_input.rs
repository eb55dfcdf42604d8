//! Hostile and broken input: never a 500, never a panic, never database text in a response.
//!
//! Every response here goes through `clean`, which asserts a status below 500 and a body free of
//! anything that would betray the database or a panic.

use std::time::Duration;

use authd::domain::Username;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend_tests;
use crate::helpers::{Backend, INTROSPECTOR, TestApp};

const FORM: &str = "application/x-www-form-urlencoded";

/// Words that only a leaked database error, stack trace or panic would put in a body.
const LEAKS: [&str; 6] = [
    "sqlx",
    "sqlstate",
    "syntax error",
    "panicked",
    "sqlite",
    "postgres",
];

/// A response that has passed the never-a-500, never-a-leak checks.
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:.200}", self.text))
    }

    /// Asserts the status and the `error` code of a JSON error body.
    fn error(&self, status: u16, code: &str, what: &str) -> &Self {
        assert_eq!(self.status, status, "{what}: {:.300}", self.text);
        assert_eq!(self.json()["error"], code, "{what}: {:.300}", self.text);
        self
    }

    fn ok(&self, status: u16, what: &str) -> &Self {
        assert_eq!(self.status, status, "{what}: {:.300}", self.text);
        self
    }
}

fn assert_no_leak(status: u16, text: &str, what: &str) {
    assert!(status < 500, "{what}: status {status}: {text:.300}");
    let lower = text.to_lowercase();
    for leak in LEAKS {
        assert!(
            !lower.contains(leak),
            "{what}: body mentions {leak}: {text:.300}"
        );
    }
    assert!(!lower.contains("stack backtrace"), "{what}: {text:.300}");
}

async fn clean(response: reqwest::Response, what: &str) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("reading the body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert_no_leak(status, &text, what);
    Answer {
        status,
        headers,
        text,
    }
}

/// POSTs raw bytes as a form, with optional Basic credentials.
async fn post_raw(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> Answer {
    let mut request = app
        .http
        .post(app.url(path))
        .header(CONTENT_TYPE, content_type)
        .body(body);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("request failed");
    clean(response, &format!("POST {path}")).await
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Answer {
    clean(
        app.post_form(path, form).await,
        &format!("POST {path} {form:?}"),
    )
    .await
}

async fn introspect(app: &TestApp, token: &str) -> Answer {
    let secret = app.introspector_secret().await;
    let response = app
        .post_form_basic("/introspect", INTROSPECTOR, &secret, &[("token", token)])
        .await;
    clean(response, &format!("introspecting {token:.40}")).await
}

async fn login(app: &TestApp, username: &str, password: &str) -> Answer {
    post_form(
        app,
        "/token",
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

async fn admin(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let what = format!("{method} {path}");
    clean(app.bearer(method, path, Some(token), body).await, &what).await
}

/// Sends a raw body to the admin API with the given content type.
async fn admin_raw(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Answer {
    let mut request = app
        .http
        .request(method.clone(), app.url(path))
        .bearer_auth(token)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    let what = format!("{method} {path} as {content_type:?}");
    clean(request.send().await.expect("request failed"), &what).await
}

/// Status line and head of a response to bytes written straight to the socket.
struct RawAnswer {
    status: u16,
    head: String,
    body: String,
}

async fn raw_http(app: &TestApp, request: &[u8]) -> RawAnswer {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    assert_no_leak(status, body, "a raw request");
    RawAnswer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A raw POST /token with a correct Content-Length and the given extra header lines.
fn raw_post(path: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {FORM}\r\n{extra_headers}\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

async fn malformed_forms_are_invalid_request_on_every_oauth_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.introspector_secret().await;

    for path in ["/token", "/introspect", "/revoke"] {
        for body in [
            &b"%zz"[..],
            b"a=%",
            b"&&&",
            b"=",
            b"%",
            b"===&==",
            b"grant_type",
            b"a=%zz&%=b",
            b"\0",
            b";;;",
        ] {
            let answer = post_raw(&app, path, Some((INTROSPECTOR, &secret)), FORM, body).await;
            answer.error(400, "invalid_request", &format!("{path} {body:?}"));
        }
        for content_type in ["application/json", "text/plain", "multipart/form-data"] {
            let answer = post_raw(
                &app,
                path,
                Some((INTROSPECTOR, &secret)),
                content_type,
                "token=x&grant_type=client_credentials",
            )
            .await;
            answer.error(400, "invalid_request", &format!("{path} as {content_type}"));
        }
    }
}

async fn invalid_utf8_in_a_form_body_is_refused_cleanly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.introspector_secret().await;

    for body in [
        &b"grant_type=password&username=\xff\xfe\xfd&password=x"[..],
        b"grant_type=password&username=%ff%fe&password=x",
        b"grant_type=password&username=bob&password=\xc3\x28",
    ] {
        let answer = post_raw(&app, "/token", None, FORM, body).await;
        answer.error(400, "invalid_grant", &format!("{body:?}"));
    }
    for body in [&b"grant_type=\xc3\x28"[..], b"grant_type=%c3%28"] {
        let answer = post_raw(&app, "/token", None, FORM, body).await;
        answer.error(400, "unsupported_grant_type", &format!("{body:?}"));
    }
    for body in [&b"token=\xff\xfe"[..], b"token=%ff.%fe.%fd"] {
        let answer = post_raw(
            &app,
            "/introspect",
            Some((INTROSPECTOR, &secret)),
            FORM,
            body,
        )
        .await;
        answer.ok(200, "introspecting invalid UTF-8");
        assert_eq!(answer.json(), json!({"active": false}));
        let answer = post_raw(&app, "/revoke", Some((INTROSPECTOR, &secret)), FORM, body).await;
        answer.ok(200, "revoking invalid UTF-8");
    }
}

async fn nul_bytes_in_username_and_password_are_refused_cleanly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;

    login(&app, "al\0ice", password)
        .await
        .error(400, "invalid_grant", "NUL in the username");
    login(&app, "alice\0", password).await.error(
        400,
        "invalid_grant",
        "trailing NUL in the username",
    );
    login(&app, "alice", &format!("{password}\0")).await.error(
        400,
        "invalid_grant",
        "NUL in the password",
    );
    login(&app, "\0", "\0")
        .await
        .error(400, "invalid_grant", "NUL alone");
    post_form(
        &app,
        "/token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
            ("client_id", "public\0"),
        ],
    )
    .await
    .error(401, "invalid_client", "NUL in the client_id");
    let answer = introspect(&app, "\0").await;
    assert_eq!(answer.ok(200, "NUL token").json(), json!({"active": false}));
    post_form(&app, "/revoke", &[("token", "\0"), ("client_id", "public")])
        .await
        .ok(200, "revoking a NUL token");
    post_form(
        &app,
        "/revoke",
        &[("token", "a.\0.b"), ("client_id", "public")],
    )
    .await
    .ok(200, "revoking a NUL JWT");

    login(&app, "alice", password)
        .await
        .ok(200, "alice still logs in");
}

async fn nul_bytes_in_admin_api_fields_are_refused_cleanly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let token = app.admin_token().await;
    let nul_password = "long enough\0password";

    admin(
        &app,
        &token,
        Method::POST,
        "/admin/users",
        Some(&json!({"username": "al\u{0}ice", "password": "long enough password"})),
    )
    .await
    .error(400, "invalid_request", "NUL in a new username");
    admin(
        &app,
        &token,
        Method::POST,
        "/admin/users",
        Some(&json!({"username": "nul", "password": "long enough password", "email": "a\u{0}@example.com"})),
    )
    .await
    .error(400, "invalid_request", "NUL in an email");
    for (field, value) in [
        ("full_name", json!("Al\u{0}ice")),
        ("roles", json!(["read\u{0}er"])),
    ] {
        let mut body = json!({"username": "nulfield", "password": "long enough password"});
        body[field] = value;
        admin(&app, &token, Method::POST, "/admin/users", Some(&body))
            .await
            .error(400, "invalid_request", &format!("NUL in {field}"));
        admin(
            &app,
            &token,
            Method::PATCH,
            "/admin/users/alice",
            Some(&json!({field: body[field]})),
        )
        .await
        .error(400, "invalid_request", &format!("NUL in a patched {field}"));
    }
    admin(
        &app,
        &token,
        Method::PUT,
        "/admin/roles/nul",
        Some(&json!({"scopes": ["a\u{0}b"]})),
    )
    .await
    .error(400, "invalid_request", "NUL in a scope");
    admin(&app, &token, Method::GET, "/admin/users/al%00ice", None)
        .await
        .error(404, "not_found", "NUL in a username path");
    for path in ["/admin/roles/%00", "/admin/clients/%00"] {
        let answer = admin(&app, &token, Method::GET, path, None).await;
        assert!(
            matches!(answer.status, 400 | 404 | 405),
            "{path}: {}",
            answer.status
        );
    }
    admin(&app, &token, Method::GET, "/admin/users?role=%00", None)
        .await
        .error(400, "invalid_request", "NUL in the role filter");

    // A NUL inside a password is just a byte of the secret: it is stored and works.
    admin(
        &app,
        &token,
        Method::POST,
        "/admin/users",
        Some(&json!({"username": "nully", "password": nul_password})),
    )
    .await
    .ok(201, "NUL in a new password");
    login(&app, "nully", nul_password)
        .await
        .ok(200, "logging in with a NUL in the password");
    login(&app, "nully", "long enough").await.error(
        400,
        "invalid_grant",
        "the password cut at the NUL",
    );
}

async fn a_nul_username_neither_fails_nor_stalls_the_audit_log(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let token = app.admin_token().await;

    login(&app, "mal\0lory", "a guess")
        .await
        .error(400, "invalid_grant", "a NUL username");
    login(&app, "alice", "a wrong guess").await.error(
        400,
        "invalid_grant",
        "alice's wrong password",
    );
    login(&app, "alice", password)
        .await
        .ok(200, "alice logs in");

    // Events recorded after the hostile one still reach the trail: it did not jam the writer.
    let mut actors = Vec::new();
    for _ in 0..50 {
        let page = admin(
            &app,
            &token,
            Method::GET,
            "/admin/audit?action=login.failed",
            None,
        )
        .await
        .ok(200, "reading the audit trail")
        .json();
        actors = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["actor"].as_str().unwrap_or_default().to_owned())
            .collect();
        if actors.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(actors.iter().any(|a| a == "alice"), "{actors:?}");
    assert!(
        actors
            .iter()
            .any(|a| a.starts_with("mal") && !a.contains('\0')),
        "{actors:?}"
    );
    admin(&app, &token, Method::GET, "/admin/audit?action=%00", None)
        .await
        .error(400, "invalid_request", "NUL in the audit filter");
}

async fn a_65_character_username_is_invalid_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;

    for username in [
        "a".repeat(65),
        "ａ".repeat(65),
        "é".repeat(65),
        "a".repeat(10_000),
    ] {
        login(&app, &username, "some password").await.error(
            400,
            "invalid_request",
            &format!("{username:.10}… at /token"),
        );
        admin(
            &app,
            &token,
            Method::POST,
            "/admin/users",
            Some(&json!({"username": username, "password": "long enough password"})),
        )
        .await
        .error(
            400,
            "invalid_request",
            &format!("{username:.10}… at /admin/users"),
        );
    }
    login(&app, &"a".repeat(64), "some password").await.error(
        400,
        "invalid_grant",
        "64 characters is merely unknown",
    );
}

async fn a_1025_byte_password_is_invalid_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let token = app.admin_token().await;

    for password in ["x".repeat(1025), "é".repeat(513), "x".repeat(15_000)] {
        login(&app, "alice", &password).await.error(
            400,
            "invalid_request",
            &format!("{} bytes at /token", password.len()),
        );
        admin(
            &app,
            &token,
            Method::POST,
            "/admin/users",
            Some(&json!({"username": "longpw", "password": password})),
        )
        .await
        .error(400, "invalid_request", "a long new password");
        admin(
            &app,
            &token,
            Method::PATCH,
            "/admin/users/alice",
            Some(&json!({"password": password})),
        )
        .await
        .error(400, "invalid_request", "a long changed password");
    }
    login(&app, "alice", &"x".repeat(1024)).await.error(
        400,
        "invalid_grant",
        "1024 bytes is merely wrong",
    );
}

async fn very_long_json_strings_are_refused_cleanly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let long = "x".repeat(50_000);
    let user = |field: &str| {
        let mut body = json!({"username": "longfields", "password": "long enough password"});
        body[field] = json!(long);
        body
    };

    for (path, method, body) in [
        ("/admin/users", Method::POST, user("username")),
        ("/admin/users", Method::POST, user("password")),
        ("/admin/users", Method::POST, user("email")),
        ("/admin/users", Method::POST, user("full_name")),
        (
            "/admin/users",
            Method::POST,
            json!({"username": "longrole", "password": "long enough password", "roles": [long]}),
        ),
        ("/admin/roles/long", Method::PUT, json!({"scopes": [long]})),
        (
            "/admin/clients",
            Method::POST,
            json!({"client_id": long, "grants": ["client_credentials"]}),
        ),
        (
            "/admin/clients",
            Method::POST,
            json!({"client_id": "long", "grants": [long]}),
        ),
    ] {
        admin(&app, &token, method.clone(), path, Some(&body))
            .await
            .error(
                400,
                "invalid_request",
                &format!("{method} {path} with a 50 kB string"),
            );
    }
    let huge = json!({"username": "huge", "password": "x".repeat(70_000)});
    admin(&app, &token, Method::POST, "/admin/users", Some(&huge))
        .await
        .error(413, "invalid_request", "a JSON body over 64 KiB");
}

async fn sql_metacharacters_in_every_field_are_ordinary_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let token = app.admin_token().await;
    let secret = app.introspector_secret().await;
    let sql = "x';drop table users;--";

    for username in [
        "alice' or '1'='1",
        "alice'--",
        "alice\"; drop table users; --",
        "' union select * from users --",
    ] {
        login(&app, username, password)
            .await
            .error(400, "invalid_grant", username);
    }
    login(&app, "alice", "' or '1'='1")
        .await
        .error(400, "invalid_grant", "SQL as the password");
    post_form(
        &app,
        "/token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
            ("scope", "'; drop table users; --"),
        ],
    )
    .await
    .error(400, "invalid_scope", "SQL as the scope");
    post_form(
        &app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", sql),
            ("client_secret", sql),
        ],
    )
    .await
    .error(401, "invalid_client", "SQL as the client_id in the body");
    let answer = clean(
        app.post_form_basic(
            "/token",
            sql,
            "' or ''='",
            &[("grant_type", "client_credentials")],
        )
        .await,
        "SQL as the Basic client_id",
    )
    .await;
    answer.error(401, "invalid_client", "SQL as the Basic client_id");
    post_form(
        &app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "' or 1=1 --"),
        ],
    )
    .await
    .error(400, "invalid_grant", "SQL as the refresh token");
    post_form(&app, "/token", &[("grant_type", sql)])
        .await
        .error(400, "unsupported_grant_type", "SQL as the grant_type");
    for token in [
        "' or 1=1 --",
        "x'); drop table users; --",
        "a.' or 1=1 --.b",
    ] {
        let answer = introspect(&app, token).await;
        assert_eq!(answer.ok(200, token).json(), json!({"active": false}));
        post_form(
            &app,
            "/revoke",
            &[("token", token), ("client_id", "public")],
        )
        .await
        .ok(200, token);
    }
    post_form(&app, "/revoke", &[("token", "x"), ("client_id", sql)])
        .await
        .error(401, "invalid_client", "SQL as the revoking client_id");
    let answer = clean(
        app.post_form_basic(
            "/introspect",
            INTROSPECTOR,
            &format!("{secret}' or '1'='1"),
            &[("token", "x")],
        )
        .await,
        "SQL appended to the introspector's secret",
    )
    .await;
    answer.error(401, "invalid_client", "SQL appended to the secret");

    admin(
        &app,
        &token,
        Method::GET,
        "/admin/users/alice'%20or%20'1'='1",
        None,
    )
    .await
    .error(404, "not_found", "SQL in a username path");
    let answer = admin(
        &app,
        &token,
        Method::GET,
        "/admin/users?role=reader'%20or%20'1'='1",
        None,
    )
    .await;
    assert_eq!(answer.ok(200, "SQL in the role filter").json()["total"], 0);
    admin(
        &app,
        &token,
        Method::POST,
        "/admin/users",
        Some(&json!({"username": sql, "password": "long enough password"})),
    )
    .await
    .error(400, "invalid_request", "SQL as a new username");
    admin(
        &app,
        &token,
        Method::PUT,
        "/admin/roles/x'--",
        Some(&json!({"scopes": []})),
    )
    .await
    .error(400, "invalid_request", "SQL as a role name");
    admin(
        &app,
        &token,
        Method::POST,
        "/admin/clients",
        Some(&json!({"client_id": sql, "grants": ["client_credentials"]})),
    )
    .await
    .error(400, "invalid_request", "SQL as a new client_id");
    let bobby = "Robert'); drop table users;--";
    admin(
        &app,
        &token,
        Method::POST,
        "/admin/users",
        Some(&json!({"username": "bobby", "password": "long enough password", "full_name": bobby})),
    )
    .await
    .ok(201, "SQL as a full name is just a name");

    // The users table is intact and the quoted text was stored as text.
    let listed = admin(&app, &token, Method::GET, "/admin/users", None).await;
    assert_eq!(listed.ok(200, "listing users").json()["total"], 3);
    let stored = admin(&app, &token, Method::GET, "/admin/users/bobby", None).await;
    assert_eq!(stored.ok(200, "bobby").json()["full_name"], bobby);
    assert!(
        app.store
            .find_user(&Username::parse("alice").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    login(&app, "alice", password)
        .await
        .ok(200, "alice still logs in");
}

async fn unicode_look_alike_usernames_log_in_only_when_nfkc_equal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let token = app.admin_token().await;

    for variant in ["ａｌｉｃｅ", "ALICE", "Ａｌｉｃｅ"] {
        let answer = login(&app, variant, password).await;
        let access = answer.ok(200, variant).json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(introspect(&app, &access).await.json()["username"], "alice");
    }
    // Cyrillic а (U+0430), Greek α, a zero-width space: other strings, not alice.
    for impostor in [
        "\u{430}lice",
        "\u{3b1}lice",
        "alice\u{200b}",
        "a\u{301}lice",
    ] {
        login(&app, impostor, password)
            .await
            .error(400, "invalid_grant", &format!("{impostor:?}"));
    }
    admin(
        &app,
        &token,
        Method::POST,
        "/admin/users",
        Some(&json!({"username": "ＡＬＩＣＥ", "password": "long enough password"})),
    )
    .await
    .error(409, "conflict", "fullwidth ALICE is alice");
}

async fn header_injection_is_refused_and_nothing_is_echoed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let form = format!("grant_type=password&username=alice&password={password}");
    let form = form.replace(' ', "+");

    // Malformed heads: a bare CR, a NUL, an obsolete line fold, conflicting lengths.
    for (what, request) in [
        (
            "a bare CR",
            raw_post("/token", "X-Note: a\rInjected: yes\r\n", form.as_bytes()),
        ),
        (
            "a NUL",
            raw_post("/token", "X-Note: a\0Injected: yes\r\n", form.as_bytes()),
        ),
        (
            "a folded line",
            raw_post("/token", "X-Note: a\r\n Injected: yes\r\n", form.as_bytes()),
        ),
        (
            "two lengths",
            raw_post("/token", "Content-Length: 3\r\n", form.as_bytes()),
        ),
        (
            "a length and chunking",
            raw_post("/token", "Transfer-Encoding: chunked\r\n", form.as_bytes()),
        ),
        (
            "CRLF in the request target",
            b"POST /token\r\nInjected: yes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
    ] {
        let answer = raw_http(&app, &request).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.head);
        assert!(
            !answer.head.to_lowercase().contains("injected"),
            "{what}: {}",
            answer.head
        );
    }

    // CR and LF inside form values and the target reach authd as data, and stay data.
    for (what, request, status) in [
        (
            "CRLF in the username",
            raw_post(
                "/token",
                "",
                b"grant_type=password&username=alice\r\nSet-Cookie: injected=1&password=x",
            ),
            400,
        ),
        (
            "encoded CRLF in the client_id",
            raw_post(
                "/token",
                "",
                b"grant_type=client_credentials&client_id=x%0d%0aSet-Cookie:%20injected=1",
            ),
            401,
        ),
        (
            "encoded CRLF in the grant_type",
            raw_post("/token", "", b"grant_type=x%0d%0aSet-Cookie:%20injected=1"),
            400,
        ),
        (
            "encoded CRLF in the path",
            raw_post("/token%0d%0aSet-Cookie:%20injected=1", "", form.as_bytes()),
            404,
        ),
        (
            "CRLF in the Basic credentials",
            raw_post(
                "/introspect",
                "Authorization: Basic eA0KU2V0LUNvb2tpZTogaW5qZWN0ZWQ9MTp5\r\n",
                b"token=x",
            ),
            401,
        ),
    ] {
        let answer = raw_http(&app, &request).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.head);
        let head = answer.head.to_lowercase();
        assert!(!head.contains("injected"), "{what}: {}", answer.head);
        assert!(!head.contains("set-cookie"), "{what}: {}", answer.head);
    }

    // The well-formed request still works over the same raw path.
    let answer = raw_http(&app, &raw_post("/token", "", form.as_bytes())).await;
    assert_eq!(answer.status, 200, "{}", answer.head);
}

async fn bodies_over_16_kib_are_413_json_on_the_oauth_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.introspector_secret().await;
    let limit = 16 * 1024;
    let padded =
        |prefix: &str, total: usize| format!("{prefix}{}", "x".repeat(total - prefix.len()));

    for path in ["/token", "/introspect", "/revoke"] {
        for size in [limit + 1, 2 * limit] {
            let body = padded("grant_type=password&username=alice&token=t&password=", size);
            let answer = post_raw(&app, path, Some((INTROSPECTOR, &secret)), FORM, body).await;
            // RFC 6749 section 5.2's shape, as every other error on these endpoints.
            let what = format!("{path} with {size} bytes");
            answer.error(413, "invalid_request", &what);
            assert_eq!(answer.headers["cache-control"], "no-store", "{what}");
            let description = answer.json()["error_description"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(description.contains("16384"), "{what}: {description}");
        }
        // At the limit the body is read, and refused for what it says, not for its size.
        let body = padded("token=", limit);
        let answer = post_raw(&app, path, Some((INTROSPECTOR, &secret)), FORM, body).await;
        assert_ne!(answer.status, 413, "{path} with exactly 16 KiB");
    }

    // Without a Content-Length the limit still holds (chunked transfer).
    let chunk = "x".repeat(limit + 100);
    for path in ["/token", "/introspect", "/revoke"] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        let answer = raw_http(&app, request.as_bytes()).await;
        assert_eq!(answer.status, 413, "{path}: {}", answer.head);
        let head = answer.head.to_lowercase();
        assert!(
            head.contains("content-type: application/json"),
            "{path}: {head}"
        );
        assert!(head.contains("cache-control: no-store"), "{path}: {head}");
        let body: Value = serde_json::from_str(answer.body.trim())
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", answer.body));
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
    }
}

async fn invalid_json_and_wrong_content_types_on_the_admin_api_are_400_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let token = app.admin_token().await;
    let json_type = Some("application/json");
    let user = r#"{"username":"newbie","password":"long enough password"}"#;
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));

    let cases: Vec<(Method, &str, Option<&str>, Vec<u8>)> = vec![
        (
            Method::POST,
            "/admin/users",
            json_type,
            b"{not json".to_vec(),
        ),
        (Method::POST, "/admin/users", json_type, b"".to_vec()),
        (Method::POST, "/admin/users", json_type, b"null".to_vec()),
        (Method::POST, "/admin/users", json_type, b"[]".to_vec()),
        (
            Method::POST,
            "/admin/users",
            json_type,
            br#"{"username":5}"#.to_vec(),
        ),
        (
            Method::POST,
            "/admin/users",
            json_type,
            br#"{"username":"a\ud800","password":"long enough password"}"#.to_vec(),
        ),
        (
            Method::POST,
            "/admin/users",
            json_type,
            b"{\"username\":\"\xff\xfe\",\"password\":\"long enough password\"}".to_vec(),
        ),
        (
            Method::POST,
            "/admin/users",
            json_type,
            deep.clone().into_bytes(),
        ),
        (
            Method::POST,
            "/admin/users",
            Some("text/plain"),
            user.into(),
        ),
        (Method::POST, "/admin/users", Some(FORM), user.into()),
        (Method::POST, "/admin/users", None, user.into()),
        (
            Method::PATCH,
            "/admin/users/alice",
            json_type,
            b"{\"full_name\":".to_vec(),
        ),
        (
            Method::PATCH,
            "/admin/users/alice",
            Some("text/plain"),
            b"{}".to_vec(),
        ),
        (
            Method::PUT,
            "/admin/roles/x",
            json_type,
            b"{\"scopes\":\"a\"}".to_vec(),
        ),
        (
            Method::PUT,
            "/admin/roles/x",
            Some("application/xml"),
            b"<scopes/>".to_vec(),
        ),
        (Method::POST, "/admin/clients", json_type, deep.into_bytes()),
        (
            Method::POST,
            "/admin/clients",
            json_type,
            b"{\"client_id\":}".to_vec(),
        ),
    ];
    for (method, path, content_type, body) in cases {
        let what = format!(
            "{method} {path} {content_type:?} {:.40}",
            String::from_utf8_lossy(&body)
        );
        let answer = admin_raw(&app, &token, method, path, content_type, body).await;
        answer.error(400, "invalid_request", &what);
        let returned = answer
            .headers
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap());
        assert_eq!(returned, Some("application/json"), "{what}");
        assert!(answer.json()["error_description"].is_string(), "{what}");
    }
    admin_raw(&app, &token, Method::POST, "/admin/users", json_type, user)
        .await
        .ok(201, "the same body, well formed");
}

backend_tests!(
    malformed_forms_are_invalid_request_on_every_oauth_endpoint,
    invalid_utf8_in_a_form_body_is_refused_cleanly,
    nul_bytes_in_username_and_password_are_refused_cleanly,
    nul_bytes_in_admin_api_fields_are_refused_cleanly,
    a_nul_username_neither_fails_nor_stalls_the_audit_log,
    a_65_character_username_is_invalid_request,
    a_1025_byte_password_is_invalid_request,
    very_long_json_strings_are_refused_cleanly,
    sql_metacharacters_in_every_field_are_ordinary_input,
    unicode_look_alike_usernames_log_in_only_when_nfkc_equal,
    header_injection_is_refused_and_nothing_is_echoed,
    bodies_over_16_kib_are_413_json_on_the_oauth_endpoints,
    invalid_json_and_wrong_content_types_on_the_admin_api_are_400_json,
);
