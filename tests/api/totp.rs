//! TOTP (RFC 6238) and recovery codes: enrolment through the account pages, the password grant's
//! `otp`, single use across concurrent requests, lockout, sealing at rest, admin reset. Codes are
//! computed by `totp-rs` from the `otpauth://` URI the page shows, never by authd's own code.

use std::time::Duration;

use authd::store::Store;
use reqwest::Method;
use serde_json::Value;
use totp_rs::Totp;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_oauth_error};
use crate::signin_support::{Browser, csrf_of, location};

const PASSWORD: &str = "correct horse battery";
const STEP: i64 = 30;

/// What enrolment through the pages leaves the test with.
struct Enrolled {
    browser: Browser,
    totp: Totp,
    secret_base32: String,
    recovery_codes: Vec<String>,
}

/// The text of the element `<tag id="id">…</tag>`, HTML entities of askama's escaping undone.
pub fn element_text(html: &str, open: &str, close: &str) -> String {
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("{open} in {html}"))
        + open.len();
    let end = start + html[start..].find(close).unwrap();
    unescape(&html[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// The value of the hidden field `name`.
pub fn hidden_field(html: &str, name: &str) -> String {
    element_text(html, &format!(r#"name="{name}" value=""#), "\"")
}

/// The recovery codes a page lists.
fn codes_on(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .map(|rest| rest.split("</code>").next().unwrap().to_owned())
        .collect()
}

/// Signs `alice` in to the account page in a new browser.
async fn signed_in_browser(app: &TestApp) -> Browser {
    let browser = Browser::new();
    let response = browser.get(&app.url("/account")).await;
    assert_eq!(location(&response), "/login");
    let response = browser.sign_in(app, "alice", PASSWORD).await;
    assert_eq!(location(&response), "/account");
    browser
}

/// The page showing the QR code, after the password re-entry.
pub async fn setup_page(app: &TestApp, browser: &Browser) -> String {
    let page = browser.get(&app.url("/account/totp/setup")).await;
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.unwrap());
    let response = browser
        .post(
            &app.url("/account/totp/setup"),
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'self'; img-src 'self';"),
        "{csp}"
    );
    let html = response.text().await.unwrap();
    assert!(
        !html.contains("style=") && !html.contains("<script"),
        "{html}"
    );
    html
}

/// Enrols alice's authenticator through the account pages; the clock then moves on two steps,
/// so the next codes are of steps not used yet.
async fn enrol(app: &TestApp) -> Enrolled {
    let browser = signed_in_browser(app).await;
    let html = setup_page(app, &browser).await;
    assert!(
        html.contains("<svg") && !html.contains("<?xml"),
        "inline SVG QR code"
    );
    let uri = element_text(&html, r#"<code id="totp-uri">"#, "</code>");
    let secret_base32 = element_text(&html, r#"<code id="totp-secret">"#, "</code>");
    assert!(
        uri.starts_with("otpauth://totp/authd:alice?secret=")
            && uri.ends_with("&issuer=authd&algorithm=SHA1&digits=6&period=30"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret_base32}&")));
    assert_eq!(secret_base32.len(), 32, "160 bits");
    let totp = Totp::from_url(&uri).expect("an otpauth URI totp-rs accepts");
    let code = totp.generate(app.clock.now() as u64).to_string();
    let response = browser
        .post(
            &app.url("/account/totp/confirm"),
            &[
                ("csrf", &csrf_of(&html)),
                ("pending", &hidden_field(&html, "pending")),
                ("otp", &code),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let set_cookie: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set_cookie.iter().any(|c| c.starts_with("authd_session=")),
        "the session is renewed: {set_cookie:?}"
    );
    let recovery_codes = codes_on(&response.text().await.unwrap());
    assert_eq!(recovery_codes.len(), 10);
    app.clock.advance(2 * STEP);
    Enrolled {
        browser,
        totp,
        secret_base32,
        recovery_codes,
    }
}

/// Waits until the clock is at least five seconds away from the next step, so a code computed
/// now is still of the same step when the server checks it.
async fn inside_a_step(app: &TestApp) {
    let into = app.clock.now().rem_euclid(STEP);
    if into >= STEP - 5 {
        tokio::time::sleep(Duration::from_secs((STEP - into + 1) as u64)).await;
    }
}

/// The code of the step `offset` steps from now.
fn code_at(app: &TestApp, totp: &Totp, offset: i64) -> String {
    totp.generate((app.clock.now() + offset * STEP) as u64)
        .to_string()
}

/// A password grant for alice with `otp` (if any).
async fn grant(app: &TestApp, otp: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    if let Some(otp) = otp {
        form.push(("otp", otp));
    }
    app.post_form("/token", &form).await
}

async fn admin_get(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.bearer(Method::GET, path, Some(token), None).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// Waits for an audit event of `action` (events are written in batches).
async fn audit_event(app: &TestApp, token: &str, action: &str) -> Value {
    for _ in 0..50 {
        let page = admin_get(app, token, &format!("/admin/audit?action={action}")).await;
        if let Some(event) = page["items"].as_array().and_then(|items| items.first()) {
            return event.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {action} event");
}

async fn query_count(store: &Store, sql: &str, bind: &str) -> i64 {
    match store {
        Store::Postgres(pool) => sqlx::query_scalar(sql).bind(bind).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_scalar(sql).bind(bind).fetch_one(pool).await,
    }
    .unwrap()
}

async fn execute(store: &Store, sql: &str, bind: &str) {
    match store {
        Store::Postgres(pool) => sqlx::query(sql).bind(bind).execute(pool).await.map(|_| ()),
        Store::Sqlite(pool) => sqlx::query(sql).bind(bind).execute(pool).await.map(|_| ()),
    }
    .unwrap()
}

async fn alice_id(app: &TestApp) -> String {
    crate::signin_support::user_named(app, "alice").await.id
}

async fn insert_passkey(app: &TestApp, user_id: &str) {
    execute(
        &app.store,
        r"insert into passkeys (credential_id, user_id, name, passkey, created_at)
          values ('cred-1', $1, 'laptop', '{}', 0)",
        user_id,
    )
    .await;
}

async fn enrolment_through_the_account_pages_makes_the_password_grant_ask_for_a_code(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let admin = app.admin_token().await;
    let before = admin_get(&app, &admin, "/admin/users/alice").await;
    assert_eq!(
        before["mfa"],
        serde_json::json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );

    let enrolled = enrol(&app).await;

    let after = admin_get(&app, &admin, "/admin/users/alice").await;
    assert_eq!(
        after["mfa"],
        serde_json::json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10})
    );
    let listed = admin_get(&app, &admin, "/admin/users").await;
    let alice = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap();
    assert_eq!(alice["mfa"]["totp"], true);
    let body = assert_oauth_error(grant(&app, None).await, 400, "mfa_required").await;
    assert!(body["error_description"].as_str().unwrap().contains("otp"));
    inside_a_step(&app).await;
    let response = grant(&app, Some(&code_at(&app, &enrolled.totp, 0))).await;
    assert_eq!(response.status(), 200);
    let account = enrolled.browser.get(&app.url("/account")).await;
    let html = account.text().await.unwrap();
    assert!(
        html.contains("Recovery codes left: <strong>10</strong>"),
        "{html}"
    );
    let sessions = admin_get(&app, &admin, "/admin/users/alice/sessions").await;
    assert_eq!(
        sessions["items"].as_array().unwrap().len(),
        1,
        "renewed, not added"
    );
}

async fn a_wrong_password_is_refused_before_the_second_factor_is_mentioned(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    enrol(&app).await;

    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wrong password"),
            ],
        )
        .await;

    let body = assert_oauth_error(response, 400, "invalid_grant").await;
    assert_eq!(body["error_description"], "invalid username or password");
}

async fn codes_one_step_off_are_accepted_and_two_steps_off_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = enrol(&app).await;
    app.clock.advance(10 * STEP);

    // Ascending, so that no refusal below is a replay of a newer step.
    for (offset, accepted) in [(-2, false), (-1, true), (0, true), (2, false), (1, true)] {
        inside_a_step(&app).await;
        let response = grant(&app, Some(&code_at(&app, &enrolled.totp, offset))).await;
        if accepted {
            assert_eq!(response.status(), 200, "offset {offset}");
        } else {
            assert_oauth_error(response, 400, "invalid_grant").await;
        }
    }
}

async fn a_replayed_code_and_an_older_step_after_a_newer_one_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = enrol(&app).await;
    inside_a_step(&app).await;
    let current = code_at(&app, &enrolled.totp, 0);
    let previous = code_at(&app, &enrolled.totp, -1);

    assert_eq!(grant(&app, Some(&current)).await.status(), 200);
    assert_oauth_error(grant(&app, Some(&current)).await, 400, "invalid_grant").await;
    assert_oauth_error(grant(&app, Some(&previous)).await, 400, "invalid_grant").await;
    // A second instance shares the rule: the database decides.
    let other = app.another_instance().await;
    assert_oauth_error(grant(&other, Some(&current)).await, 400, "invalid_grant").await;
}

async fn two_concurrent_submissions_of_one_code_succeed_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = enrol(&app).await;
    let other = app.another_instance().await;
    inside_a_step(&app).await;
    let code = code_at(&app, &enrolled.totp, 0);

    let (a, b) = tokio::join!(grant(&app, Some(&code)), grant(&other, Some(&code)));

    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
}

async fn recovery_codes_are_single_use_even_when_sent_concurrently(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = enrol(&app).await;
    let admin = app.admin_token().await;
    let first = &enrolled.recovery_codes[0];

    // Typed sloppily: lower case, spaces instead of dashes.
    let sloppy = first.replace('-', " ").to_lowercase();
    assert_eq!(grant(&app, Some(&sloppy)).await.status(), 200);
    assert_oauth_error(grant(&app, Some(first)).await, 400, "invalid_grant").await;
    let event = audit_event(&app, &admin, "mfa.recovery_code_used").await;
    assert_eq!(event["actor"], "alice");
    assert_eq!(event["detail"], "9");

    let second = &enrolled.recovery_codes[1];
    let other = app.another_instance().await;
    let (a, b) = tokio::join!(grant(&app, Some(second)), grant(&other, Some(second)));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    let user = admin_get(&app, &admin, "/admin/users/alice").await;
    assert_eq!(user["mfa"]["recovery_codes_left"], 8);
}

async fn wrong_codes_count_towards_the_lockout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = enrol(&app).await;
    let admin = app.admin_token().await;

    // Each attempt has the right password: its success must not wipe the count of wrong codes.
    for wrong in ["000000", "111111", "222222", "333333", "444444"] {
        assert_oauth_error(grant(&app, Some(wrong)).await, 400, "invalid_grant").await;
    }
    inside_a_step(&app).await;
    let response = grant(&app, Some(&code_at(&app, &enrolled.totp, 0))).await;

    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert_oauth_error(response, 429, "temporarily_unavailable").await;
    let failed = audit_event(&app, &admin, "mfa.otp_failed").await;
    assert_eq!(failed["actor"], "alice");
}

/// RFC 4648 base32 without padding, decoded (the test's own, to look for the raw bytes).
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

async fn the_database_holds_no_totp_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = enrol(&app).await;
    let user_id = alice_id(&app).await;

    let sql = r"select sealed_secret from totp_credentials where user_id = $1";
    let sealed: String = match &app.store {
        Store::Postgres(pool) => sqlx::query_scalar(sql).bind(&user_id).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_scalar(sql).bind(&user_id).fetch_one(pool).await,
    }
    .unwrap();

    let secret = base32_decode(&enrolled.secret_base32);
    assert_eq!(secret.len(), 20);
    assert!(!sealed.contains(&enrolled.secret_base32));
    assert!(!sealed.to_uppercase().contains(&enrolled.secret_base32));
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!sealed.to_lowercase().contains(&hex));
    use base64::Engine;
    let body = sealed.strip_prefix("v1:").expect("a sealed value");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_slice()));
    let stored_codes = query_count(
        &app.store,
        r"select count(*) from recovery_codes where user_id = $1 and length(code_hash) = 64",
        &user_id,
    )
    .await;
    assert_eq!(stored_codes, 10);
    for code in &enrolled.recovery_codes {
        let plain = code.replace('-', "");
        let found = query_count(
            &app.store,
            r"select count(*) from recovery_codes where code_hash = $1",
            &plain,
        )
        .await;
        assert_eq!(found, 0, "stored only as a hash");
    }
}

async fn passkey_only_and_mfa_required_users_are_sent_to_the_browser(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    insert_passkey(&app, &alice_id(&app).await).await;

    let body = assert_oauth_error(grant(&app, None).await, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("browser"),
        "{body}"
    );

    app.add_role("operators", &["items:read"]).await;
    app.add_user("bob", PASSWORD, &["operators"]).await;
    execute(
        &app.store,
        r"update roles set require_mfa = true where name = $1",
        "operators",
    )
    .await;
    let response = app
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "bob"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let body = assert_oauth_error(response, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("browser"),
        "{body}"
    );
}

async fn a_wrong_first_code_or_a_tampered_set_up_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let browser = signed_in_browser(&app).await;
    let page = browser.get(&app.url("/account/totp/setup")).await;
    let csrf = csrf_of(&page.text().await.unwrap());
    let response = browser
        .post(
            &app.url("/account/totp/setup"),
            &[("csrf", &csrf), ("password", "not the password")],
        )
        .await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("Wrong password") && !html.contains("otpauth"));
    let html = setup_page(&app, &browser).await;
    let csrf = csrf_of(&html);
    let pending = hidden_field(&html, "pending");
    let uri = element_text(&html, r#"<code id="totp-uri">"#, "</code>");
    let totp = Totp::from_url(&uri).unwrap();
    let wrong = code_at(&app, &totp, 5);
    let confirm = |pending: String, otp: String| {
        let csrf = csrf.clone();
        let browser = &browser;
        let url = app.url("/account/totp/confirm");
        async move {
            browser
                .post(
                    &url,
                    &[("csrf", &csrf), ("pending", &pending), ("otp", &otp)],
                )
                .await
        }
    };

    let response = confirm(pending.clone(), wrong).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("not right"));
    let mut tampered = pending.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let code = code_at(&app, &totp, 0);
    let response = confirm(String::from_utf8(tampered).unwrap(), code.clone()).await;
    assert_eq!(response.status(), 400);
    // A stranger's browser (no session) gets nowhere with the same form.
    let stranger = Browser::new();
    let response = stranger
        .post(
            &app.url("/account/totp/confirm"),
            &[("csrf", &csrf), ("pending", &pending), ("otp", &code)],
        )
        .await;
    assert_eq!(response.status(), 303);

    let stored = query_count(
        &app.store,
        r"select count(*) from totp_credentials where user_id = $1",
        &alice_id(&app).await,
    )
    .await;
    assert_eq!(stored, 0);
}

async fn recovery_codes_are_regenerated_and_totp_removed_with_a_fresh_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = enrol(&app).await;
    let account = enrolled.browser.get(&app.url("/account")).await;
    let csrf = csrf_of(&account.text().await.unwrap());

    let response = enrolled
        .browser
        .post(
            &app.url("/account/recovery-codes"),
            &[("csrf", &csrf), ("otp", "000000")],
        )
        .await;
    assert_eq!(response.status(), 400);
    inside_a_step(&app).await;
    let response = enrolled
        .browser
        .post(
            &app.url("/account/recovery-codes"),
            &[("csrf", &csrf), ("otp", &code_at(&app, &enrolled.totp, 0))],
        )
        .await;
    assert_eq!(response.status(), 200);
    let new_codes = codes_on(&response.text().await.unwrap());
    assert_eq!(new_codes.len(), 10);
    assert!(
        new_codes
            .iter()
            .all(|c| !enrolled.recovery_codes.contains(c))
    );
    let old = &enrolled.recovery_codes[0];
    assert_oauth_error(grant(&app, Some(old)).await, 400, "invalid_grant").await;

    // Without the CSRF token nothing happens.
    let response = enrolled
        .browser
        .post(&app.url("/account/totp/remove"), &[("otp", &new_codes[0])])
        .await;
    assert_eq!(response.status(), 403);
    let response = enrolled
        .browser
        .post(
            &app.url("/account/totp/remove"),
            &[("csrf", &csrf), ("otp", &new_codes[0])],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account");
    assert_eq!(
        grant(&app, None).await.status(),
        200,
        "password alone again"
    );
    let html = enrolled
        .browser
        .get(&app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Set up an authenticator app"));
}

async fn an_admin_resets_second_factors_over_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    enrol(&app).await;
    let user_id = alice_id(&app).await;
    insert_passkey(&app, &user_id).await;
    let admin = app.admin_token().await;
    let reader = app.token_with_scopes(&["users:read"]).await;

    let response = app
        .bearer(
            Method::DELETE,
            "/admin/users/alice/mfa",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(response.status(), 403);
    let response = app
        .bearer(
            Method::DELETE,
            "/admin/users/nobody/mfa",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), 404);
    let response = app
        .bearer(Method::DELETE, "/admin/users/alice/mfa", Some(&admin), None)
        .await;
    assert_eq!(response.status(), 204);

    let user = admin_get(&app, &admin, "/admin/users/alice").await;
    assert_eq!(
        user["mfa"],
        serde_json::json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    assert_eq!(grant(&app, None).await.status(), 200);
    let event = audit_event(&app, &admin, "mfa.reset").await;
    assert_eq!(event["subject"], "alice");
    assert_eq!(event["detail"], "totp=true passkeys=1 recovery_codes=10");
}

async fn an_admin_resets_second_factors_from_the_cli(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    enrol(&app).await;
    let user_id = alice_id(&app).await;
    insert_passkey(&app, &user_id).await;
    let dir = tempfile::tempdir().unwrap();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .current_dir(dir.path())
        .args(["user", "mfa", "reset", "alice"])
        .env("RUST_LOG", "warn")
        .env("AUTHD_DATABASE__URL", app.settings.database.url.expose())
        .env("AUTHD_KEYS__ENCRYPTION_KEY", crate::helpers::TEST_KEK)
        .output()
        .unwrap();

    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("second factors of alice removed"),
        "{stdout}"
    );
    let factors = app.store.second_factors(&user_id).await.unwrap();
    assert_eq!(factors, authd::store::SecondFactors::default());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .current_dir(dir.path())
        .args(["user", "mfa", "reset", "nobody"])
        .env("AUTHD_DATABASE__URL", app.settings.database.url.expose())
        .output()
        .unwrap();
    assert!(!output.status.success());
}

async fn a_person_signs_in_with_password_and_code_or_a_recovery_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.seed_alice().await;
    let enrolled = enrol(&app).await;
    let admin = app.admin_token().await;

    // Password first, then the second-factor page: a wrong code shows the form again.
    let browser = Browser::new();
    browser.get(&app.url("/account")).await;
    let response = browser.sign_in(&app, "alice", PASSWORD).await;
    assert_eq!(location(&response), "/login/second-factor");
    let page = browser.get(&app.url("/login/second-factor")).await;
    let csrf = csrf_of(&page.text().await.unwrap());
    let response = browser
        .post(
            &app.url("/login/second-factor"),
            &[("csrf", &csrf), ("otp", "000000")],
        )
        .await;
    assert_eq!(response.status(), 400);
    inside_a_step(&app).await;
    let code = code_at(&app, &enrolled.totp, 0);
    let response = browser
        .post(
            &app.url("/login/second-factor"),
            &[("csrf", &csrf), ("otp", &code)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account");

    // The same code in another browser is a replay.
    let other = Browser::new();
    other.get(&app.url("/account")).await;
    other.sign_in(&app, "alice", PASSWORD).await;
    let page = other.get(&app.url("/login/second-factor")).await;
    let csrf = csrf_of(&page.text().await.unwrap());
    let response = other
        .post(
            &app.url("/login/second-factor"),
            &[("csrf", &csrf), ("otp", &code)],
        )
        .await;
    assert_eq!(response.status(), 400);
    // A recovery code finishes it, and the person is told how many are left.
    let response = other
        .post(
            &app.url("/login/second-factor"),
            &[("csrf", &csrf), ("otp", &enrolled.recovery_codes[3])],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("You have 9 recovery codes left")
    );
    let sessions = admin_get(&app, &admin, "/admin/users/alice/sessions").await;
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|s| s["amr"] == serde_json::json!(["pwd", "otp", "mfa"])),
        "{sessions}"
    );
}

backend_tests!(
    a_person_signs_in_with_password_and_code_or_a_recovery_code,
    enrolment_through_the_account_pages_makes_the_password_grant_ask_for_a_code,
    a_wrong_password_is_refused_before_the_second_factor_is_mentioned,
    codes_one_step_off_are_accepted_and_two_steps_off_refused,
    a_replayed_code_and_an_older_step_after_a_newer_one_are_refused,
    two_concurrent_submissions_of_one_code_succeed_once,
    recovery_codes_are_single_use_even_when_sent_concurrently,
    wrong_codes_count_towards_the_lockout,
    the_database_holds_no_totp_secret,
    passkey_only_and_mfa_required_users_are_sent_to_the_browser,
    a_wrong_first_code_or_a_tampered_set_up_stores_nothing,
    recovery_codes_are_regenerated_and_totp_removed_with_a_fresh_code,
    an_admin_resets_second_factors_over_the_api,
    an_admin_resets_second_factors_from_the_cli,
);
