//! The sign-in hub of issue 13: a person with a second factor is not signed in by a password
//! alone, a role that demands a second factor sends its holders to enrolment before any code,
//! and `acr_values` asks a password session for more (OpenID Connect Core 3.1.2.1).

use authd::store::Store;
use reqwest::header::SET_COOKIE;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::openid_connect::{PASSWORD, openid_client, seed_alice};
use crate::signin_support::{Browser, Pkce, assert_error_page, csrf_of, location, param};

const MFA: &str = "urn:authd:acr:mfa";

backend_tests!(
    a_role_that_demands_a_second_factor_sends_its_holder_to_enrolment,
    acr_values_ask_a_password_session_for_a_second_factor,
    a_password_alone_does_not_sign_in_a_person_with_a_second_factor,
    a_password_change_voids_a_sign_in_waiting_for_its_second_factor,
    enrolling_an_authenticator_app_during_a_sign_in_finishes_it,
);

async fn execute(store: &Store, sql: &str, bind: &str) {
    match store {
        Store::Postgres(pool) => sqlx::query(sql).bind(bind).execute(pool).await.map(drop),
        Store::Sqlite(pool) => sqlx::query(sql).bind(bind).execute(pool).await.map(drop),
    }
    .unwrap();
}

/// Gives `user_id` a passkey row: enough for the flow to know they have a second factor.
async fn give_a_passkey(app: &TestApp, user_id: &str) {
    let sql = "insert into passkeys (credential_id, user_id, name, passkey, created_at) \
               values ('test-credential', $1, 'test', '{}', 0)";
    execute(&app.store, sql, user_id).await;
}

fn sets_session_cookie(response: &reqwest::Response) -> bool {
    response.headers().get_all(SET_COOKIE).iter().any(|value| {
        value.to_str().unwrap().starts_with("authd_session=")
            && !value.to_str().unwrap().contains("Max-Age=0")
    })
}

async fn authorize(
    browser: &Browser,
    app: &TestApp,
    client: &crate::signin_support::WebClient,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let pkce = Pkce::new();
    let mut params = vec![
        ("state", "s-1"),
        ("scope", "openid"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    browser.authorize(app, client, &params).await
}

async fn a_role_that_demands_a_second_factor_sends_its_holder_to_enrolment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = openid_client(&app).await;
    execute(
        &app.store,
        "update roles set require_mfa = true where name = $1",
        "reader",
    )
    .await;
    let browser = Browser::new();
    let response = authorize(&browser, &app, &client, &[]).await;
    assert_eq!(location(&response), "/login");
    let response = browser.sign_in(&app, "alice", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "/login/enrol",
        "no code before enrolment"
    );
    // The person is signed in (they may reach the account page to enrol) ...
    let account = browser.get(&app.url("/account")).await;
    assert_eq!(account.status(), 200);
    // ... but continuing without a second factor leads back to enrolment, never to the client.
    let page = browser.get(&app.url("/login/enrol")).await;
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.unwrap());
    let response = browser
        .post(&app.url("/login/enrol"), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&response), "/login/enrol");
    // A stale CSRF token is refused.
    let response = browser
        .post(&app.url("/login/enrol"), &[("csrf", &csrf)])
        .await;
    assert_error_page(response, 403).await;
    // The session cannot answer silently either.
    let response = authorize(&browser, &app, &client, &[("prompt", "none")]).await;
    let to = location(&response);
    assert!(to.starts_with(&client.redirect_uri), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    // Once the role no longer demands it, the same session gets its code.
    execute(
        &app.store,
        "update roles set require_mfa = false where name = $1",
        "reader",
    )
    .await;
    app.clock.advance(2);
    let response = authorize(&browser, &app, &client, &[]).await;
    let to = location(&response);
    assert!(param(&to, "code").is_some(), "{to}");
}

async fn acr_values_ask_a_password_session_for_a_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    authorize(&browser, &app, &client, &[]).await;
    let response = browser.sign_in(&app, "alice", PASSWORD).await;
    assert!(param(&location(&response), "code").is_some());
    // A preference for a password sign-in is met by this session.
    let acr_pwd = format!("urn:authd:acr:pwd {MFA}");
    let response = authorize(&browser, &app, &client, &[("acr_values", &acr_pwd)]).await;
    assert!(param(&location(&response), "code").is_some());
    // Asking for more: no silent answer, and enrolment for a person without a second factor.
    let response = authorize(
        &browser,
        &app,
        &client,
        &[("acr_values", MFA), ("prompt", "none")],
    )
    .await;
    assert_eq!(
        param(&location(&response), "error").as_deref(),
        Some("login_required")
    );
    let response = authorize(&browser, &app, &client, &[("acr_values", MFA)]).await;
    assert_eq!(location(&response), "/login/enrol");
    // With a second factor, the same request asks for it instead.
    give_a_passkey(
        &app,
        &crate::signin_support::user_named(&app, "alice").await.id,
    )
    .await;
    let response = authorize(&browser, &app, &client, &[("acr_values", MFA)]).await;
    assert_eq!(location(&response), "/login/second-factor");
    let page = browser.get(&app.url("/login/second-factor")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("alice"), "{html}");
    assert!(html.contains("passkey"), "{html}");
}

async fn a_password_alone_does_not_sign_in_a_person_with_a_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = seed_alice(&app).await;
    give_a_passkey(&app, &alice.id).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    authorize(&browser, &app, &client, &[]).await;
    let response = browser.sign_in(&app, "alice", PASSWORD).await;
    assert_eq!(location(&response), "/login/second-factor");
    assert!(
        !sets_session_cookie(&response),
        "no session before the second factor"
    );
    let account = browser.get(&app.url("/account")).await;
    assert_eq!(location(&account), "/login", "not signed in");
    // The account-page sign-in went to a new transaction; start again from the client.
    authorize(&browser, &app, &client, &[]).await;
    browser.sign_in(&app, "alice", PASSWORD).await;
    let page = browser.get(&app.url("/login/second-factor")).await;
    let html = page.text().await.unwrap();
    // A code is no way in for a person whose only second factor is a passkey.
    assert!(!html.contains(r#"name="otp""#), "{html}");
    // A wrong password never reaches the second factor.
    let browser = Browser::new();
    authorize(&browser, &app, &client, &[]).await;
    let response = browser.sign_in(&app, "alice", "wrong password!").await;
    assert_eq!(response.status(), 400);
    let response = browser.get(&app.url("/login/second-factor")).await;
    assert_error_page(response, 400).await;
}

async fn a_password_change_voids_a_sign_in_waiting_for_its_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = seed_alice(&app).await;
    give_a_passkey(&app, &alice.id).await;
    let client = openid_client(&app).await;
    let browser = Browser::new();
    authorize(&browser, &app, &client, &[]).await;
    browser.sign_in(&app, "alice", PASSWORD).await;
    let page = browser.get(&app.url("/login/second-factor")).await;
    assert_eq!(page.status(), 200);
    execute(
        &app.store,
        "update users set token_generation = token_generation + 1 where id = $1",
        &alice.id,
    )
    .await;
    let page = browser.get(&app.url("/login/second-factor")).await;
    assert_error_page(page, 400).await;
}

async fn enrolling_an_authenticator_app_during_a_sign_in_finishes_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_alice(&app).await;
    let client = openid_client(&app).await;
    execute(
        &app.store,
        "update roles set require_mfa = true where name = $1",
        "reader",
    )
    .await;
    let browser = Browser::new();
    authorize(&browser, &app, &client, &[]).await;
    let response = browser.sign_in(&app, "alice", PASSWORD).await;
    assert_eq!(location(&response), "/login/enrol");
    // The account page offers to continue the waiting sign-in.
    let account = browser
        .get(&app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    assert!(account.contains("Continue signing in"), "{account}");
    // Set up an authenticator app there: password again, then the first code.
    let html = crate::totp::setup_page(&app, &browser).await;
    let uri = crate::totp::element_text(&html, r#"<code id="totp-uri">"#, "</code>");
    let totp = totp_rs::Totp::from_url(&uri).unwrap();
    let confirmed = browser
        .post(
            &app.url("/account/totp/confirm"),
            &[
                ("csrf", &csrf_of(&html)),
                ("pending", &crate::totp::hidden_field(&html, "pending")),
                ("otp", &totp.generate(app.clock.now() as u64).to_string()),
            ],
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    // Enrolling proved password and code: continuing issues the code without asking again.
    let account = browser
        .get(&app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    let continue_form = account
        .split(r#"<form method="post" action="/login/enrol">"#)
        .nth(1)
        .expect("the continue form");
    let response = browser
        .post(
            &app.url("/login/enrol"),
            &[("csrf", &csrf_of(continue_form))],
        )
        .await;
    let to = location(&response);
    assert!(to.starts_with(&client.redirect_uri), "{to}");
    assert!(param(&to, "code").is_some(), "{to}");
}
