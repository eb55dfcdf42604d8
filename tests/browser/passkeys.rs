//! Issue 13, "Done when", passkeys: in Chromium with a WebDriver virtual authenticator (the
//! WebDriver WebAuthn extension, as a platform authenticator with user verification), a person
//! signs in with their password, registers a passkey on `/account`, signs out, and signs in
//! again with the passkey alone.

use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use http::Method;
use reqwest::Method as HttpMethod;
use serde_json::{Value, json};
use url::Url;

use crate::backend_tests;
use crate::helpers::Backend;
use crate::sign_in::keep_screenshot;
use crate::site::{Site, sign_in_on_the_page};
use crate::webdriver::{describe, wait_for, wait_for_address, with_browser};

/// `POST /session/{id}/webauthn/authenticator` (Web Authentication, 11.3 "Add Virtual
/// Authenticator"); fantoccini has no method for it.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, url::ParseError> {
        base.join(&format!(
            "session/{}/webauthn/authenticator",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &Url) -> (Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (Method::POST, Some(body.to_string()))
    }
}

/// Waits until the element is shown (the passkey script unhides its buttons) and returns it.
async fn wait_until_shown(browser: &Client, css: &str) -> fantoccini::elements::Element {
    let element = wait_for(browser, css).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !element.is_displayed().await.unwrap_or(false) {
        assert!(
            Instant::now() < deadline,
            "{css} stays hidden; {}",
            describe(browser).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    element
}

/// The `amr` of each of `username`'s sessions, from the admin API.
async fn session_methods(site: &Site, username: &str) -> Vec<Value> {
    let token = site.app.admin_token().await;
    let page: Value = site
        .app
        .bearer(
            HttpMethod::GET,
            &format!("/admin/users/{username}/sessions"),
            Some(&token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["amr"].clone())
        .collect()
}

async fn a_person_registers_a_passkey_signs_out_and_signs_in_with_it_alone(backend: Backend) {
    let site = Site::start(backend).await;
    site.add_person("alice").await;

    with_browser(true, move |browser| async move {
        browser
            .issue_cmd(AddVirtualAuthenticator)
            .await
            .expect("chromedriver adds a virtual authenticator");

        // Password first; the account page offers to add a passkey.
        browser.goto(&site.url("/account")).await.unwrap();
        wait_for_address(&browser, &site.url("/login")).await;
        sign_in_on_the_page(&browser, "alice").await;
        wait_for_address(&browser, &site.url("/account")).await;
        let add = wait_until_shown(&browser, "#passkey-add").await;
        browser
            .find(Locator::Css("#passkey-name"))
            .await
            .unwrap()
            .send_keys("This browser")
            .await
            .unwrap();
        add.click().await.unwrap();
        wait_for(&browser, "ul.passkeys li").await;
        let page = browser.source().await.unwrap();
        assert!(page.contains("<strong>This browser</strong>"), "{page}");
        browser
            .execute(
                "document.getElementById('passkeys').scrollIntoView()",
                Vec::new(),
            )
            .await
            .unwrap();
        keep_screenshot(&browser, "passkey-account.png").await;

        // Signed out, then the passkey alone.
        browser
            .find(Locator::Css("form[action='/account/signout'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&browser, "h1").await;
        browser.goto(&site.url("/login")).await.unwrap();
        let sign_in = wait_until_shown(&browser, "#passkey-sign-in").await;
        keep_screenshot(&browser, "passkey-login.png").await;
        sign_in.click().await.unwrap();
        wait_for_address(&browser, &site.url("/account")).await;
        let page = wait_for(&browser, "ul.passkeys li")
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("last used"), "{page}");

        let methods = session_methods(&site, "alice").await;
        assert_eq!(methods, vec![json!(["pop", "mfa"])], "{methods:?}");
    })
    .await;
}

backend_tests!(a_person_registers_a_passkey_signs_out_and_signs_in_with_it_alone);
