//! Issue 11, "Done when": a person signs in on authd's page, approves a third-party client and is
//! sent back with a code that the `oauth2` crate exchanges with PKCE; a second client signs the
//! same person in without a password. Also: the page without JavaScript, and its headers.

use std::path::PathBuf;

use fantoccini::Client;
use oauth2::TokenResponse;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use crate::backend_tests;
use crate::callback::{SCRIPT_PROBE_PATH, TITLE_WITHOUT_SCRIPTS};
use crate::helpers::Backend;
use crate::site::{Site, WebClient, sign_in_on_the_page};
use crate::webdriver::{wait_for, wait_for_address, with_browser};

/// Set to 1 to refresh the book's screenshot of the login page (docs/src/images/).
const UPDATE_SCREENSHOT_ENV: &str = "AUTHD_UPDATE_SCREENSHOT";

/// Approves the client on the consent page, after checking the page names it.
async fn approve_consent(browser: &Client, client_name: &str) {
    let allow = wait_for(
        browser,
        "form[action='/consent'] button[name='decision'][value='allow']",
    )
    .await;
    let page = browser.source().await.unwrap();
    assert!(
        page.contains(client_name),
        "the consent page does not name {client_name}"
    );
    assert!(
        page.contains("items:read"),
        "the consent page omits the scope"
    );
    allow.click().await.unwrap();
}

/// Saves a screenshot of the page shown: always under target/, into the book when asked.
pub async fn keep_screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&scratch, &png).unwrap();
    if std::env::var(UPDATE_SCREENSHOT_ENV).is_ok_and(|v| v == "1") {
        let book = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/src/images");
        std::fs::create_dir_all(&book).unwrap();
        std::fs::write(book.join(name), &png).unwrap();
    }
}

/// Asserts what a token the flow produced stands for, asking authd itself.
async fn assert_token_of(site: &Site, client: &WebClient, token: &impl TokenResponse, who: &str) {
    let answer = site.app.introspect(token.access_token().secret()).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["username"], who, "{answer}");
    assert_eq!(answer["client_id"], client.client_id, "{answer}");
    assert_eq!(answer["scope"], "items:read", "{answer}");
    assert!(
        token.refresh_token().is_some(),
        "the client holds the refresh_token grant"
    );
}

async fn a_person_signs_in_approves_a_client_and_a_second_client_needs_no_password(
    backend: Backend,
) {
    let site = Site::start(backend).await;
    site.add_person("alice").await;
    let third_party = site
        .add_web_client("webapp", "Photo Printer", false, false)
        .await;
    let first_party = site.add_web_client("portal", "Portal", true, true).await;

    with_browser(true, move |browser| async move {
        let issuer = site.app.issuer();

        // Third-party client: login page, consent, code.
        let request = third_party.authorization_request();
        browser.goto(request.url.as_str()).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        if backend == Backend::Sqlite {
            keep_screenshot(&browser, "login-page.png").await;
        }
        sign_in_on_the_page(&browser, "alice").await;
        approve_consent(&browser, "Photo Printer").await;
        let landed = wait_for_address(&browser, &third_party.redirect_uri).await;
        let token = third_party.redeem(&landed, request, &issuer).await;
        assert_token_of(&site, &third_party, &token, "alice").await;

        // Single sign-on: the session carries the person to a second client, no form shown.
        let request = first_party.authorization_request();
        browser.goto(request.url.as_str()).await.unwrap();
        let landed = wait_for_address(&browser, &first_party.redirect_uri).await;
        let token = first_party.redeem(&landed, request, &issuer).await;
        assert_token_of(&site, &first_party, &token, "alice").await;
    })
    .await;
}

async fn the_login_and_consent_pages_work_without_javascript(backend: Backend) {
    let site = Site::start(backend).await;
    site.add_person("bob").await;
    let third_party = site
        .add_web_client("webapp", "Photo Printer", false, false)
        .await;

    with_browser(false, move |browser| async move {
        // The session really runs no script: the probe's script would rename its page.
        browser
            .goto(&site.callback.url(SCRIPT_PROBE_PATH))
            .await
            .unwrap();
        assert_eq!(browser.title().await.unwrap(), TITLE_WITHOUT_SCRIPTS);

        let request = third_party.authorization_request();
        browser.goto(request.url.as_str()).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        sign_in_on_the_page(&browser, "bob").await;
        approve_consent(&browser, "Photo Printer").await;
        let landed = wait_for_address(&browser, &third_party.redirect_uri).await;
        let token = third_party
            .redeem(&landed, request, &site.app.issuer())
            .await;
        assert_token_of(&site, &third_party, &token, "bob").await;
    })
    .await;
}

/// The `name=value` pairs of a response's cookies, as a `Cookie` header sends them back.
fn cookies_of(headers: &HeaderMap) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn the_login_page_is_sent_with_the_security_headers(backend: Backend) {
    let site = Site::start(backend).await;
    let client = site
        .add_web_client("webapp", "Photo Printer", false, false)
        .await;
    let request = client.authorization_request();
    let http = &site.app.http;

    let authorize = http.get(request.url.as_str()).send().await.unwrap();
    assert_eq!(authorize.status(), 303, "no session: to the login page");
    let location = authorize.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.ends_with("/login"), "redirected to {location}");
    let cookies = cookies_of(authorize.headers());
    let page = http
        .get(site.url("/login"))
        .header(reqwest::header::COOKIE, cookies)
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(header("content-type").starts_with("text/html"));
    let policy = header("content-security-policy");
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "Content-Security-Policy: {policy:?}"
    );
    let scripts = ["script-src", "default-src"].iter().find_map(|name| {
        policy
            .split(';')
            .map(str::trim)
            .find(|directive| directive.split_whitespace().next() == Some(*name))
    });
    let scripts = scripts.expect("a policy for scripts (script-src or default-src)");
    assert!(
        !scripts.contains("'unsafe-inline'") && !scripts.contains("'unsafe-eval'"),
        "no inline scripts: {policy:?}"
    );
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-store");
    let html = page.text().await.unwrap();
    for needle in [
        r#"action="/login""#,
        r#"name="username""#,
        r#"name="password""#,
        r#"name="csrf""#,
    ] {
        assert!(html.contains(needle), "the login page lacks {needle}");
    }
}

backend_tests!(
    a_person_signs_in_approves_a_client_and_a_second_client_needs_no_password,
    the_login_and_consent_pages_work_without_javascript,
    the_login_page_is_sent_with_the_security_headers,
);
