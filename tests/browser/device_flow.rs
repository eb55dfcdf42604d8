//! Issue 15, the device authorization grant (RFC 8628): a device asks for a code, a person in a
//! real browser (without JavaScript, at a phone's size) signs in at `/device`, types the code in
//! lower case without the dash, allows it, and the polling device receives its tokens.

use authd::domain::GrantType;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::Backend;
use crate::sign_in::keep_screenshot;
use crate::site::{Site, sign_in_on_the_page};
use crate::webdriver::{wait_for, wait_for_address, with_browser};

backend_tests!(a_person_connects_a_device_by_typing_its_code_on_the_device_page);

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn a_person_connects_a_device_by_typing_its_code_on_the_device_page(backend: Backend) {
    let site = Site::start(backend).await;
    site.add_person("dana").await;
    site.app
        .add_client("tv", &[GrantType::DeviceCode], &["items:read"], true)
        .await;
    let started: Value = site
        .app
        .http
        .post(site.url("/device_authorization"))
        .form(&[("client_id", "tv"), ("scope", "items:read")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let typed = started["user_code"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_lowercase();
    let verification_uri = started["verification_uri"].as_str().unwrap().to_owned();

    with_browser(false, move |browser| async move {
        // The device polls as the spec says, its waits moving the test clock.
        let (http, clock) = (site.app.http.clone(), site.app.clock.clone());
        let token_url = site.url("/token");
        let polling = tokio::spawn(async move {
            for _ in 0..600 {
                let answer: Value = http
                    .post(&token_url)
                    .form(&[
                        ("grant_type", DEVICE_GRANT),
                        ("device_code", device_code.as_str()),
                        ("client_id", "tv"),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if answer["error"] != "authorization_pending" {
                    return answer;
                }
                clock.advance(5);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the device was never approved");
        });

        browser.set_window_size(390, 700).await.unwrap();
        browser.goto(&verification_uri).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        sign_in_on_the_page(&browser, "dana").await;
        wait_for(&browser, "form[action='/device'] input[name='user_code']")
            .await
            .send_keys(&typed)
            .await
            .unwrap();
        if backend == Backend::Sqlite {
            keep_screenshot(&browser, "device-page.png").await;
        }
        wait_for(&browser, "form[action='/device'] button[type='submit']")
            .await
            .click()
            .await
            .unwrap();
        let allow = wait_for(
            &browser,
            "form[action='/device/decision'] button[name='decision'][value='allow']",
        )
        .await;
        let page = browser.source().await.unwrap();
        assert!(page.contains("items:read"), "{page}");
        if backend == Backend::Sqlite {
            keep_screenshot(&browser, "device-confirm.png").await;
        }
        allow.click().await.unwrap();
        // The confirmation page has an h1 of its own: wait for the decision's answer to replace it.
        wait_for_address(&browser, &site.url("/device/decision")).await;
        wait_for(&browser, "h1").await;
        let done = browser.source().await.unwrap();
        assert!(done.contains("Device connected"), "{done}");

        let tokens = polling.await.unwrap();
        let access = tokens["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{tokens}"));
        let answer = site.app.introspect(access).await;
        assert_eq!(answer["username"], "dana", "{answer}");
        assert_eq!(answer["client_id"], "tv", "{answer}");
    })
    .await;
}
