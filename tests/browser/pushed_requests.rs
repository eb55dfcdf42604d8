//! Issue 14, pushed authorization requests (RFC 9126): the `oauth2` crate builds an
//! authorization request, the client pushes its parameters to `/par`, and a real browser goes to
//! `/authorize` with only the client_id and the request_uri, signs in, approves, and comes back
//! with a code the `oauth2` crate redeems. A reload of that URL afterwards is refused.

use serde_json::Value;
use url::Url;

use crate::backend_tests;
use crate::helpers::Backend;
use crate::site::{Site, sign_in_on_the_page};
use crate::webdriver::{wait_for, wait_for_address, with_browser};

backend_tests!(a_person_signs_in_through_a_pushed_authorization_request);

async fn a_person_signs_in_through_a_pushed_authorization_request(backend: Backend) {
    let site = Site::start(backend).await;
    site.add_person("carol").await;
    // Public: it pushes by naming its client_id, which the oauth2 crate's URL carries.
    let client = site
        .add_web_client("webapp", "Photo Printer", false, true)
        .await;
    let request = client.authorization_request();
    let pushed: Value = site
        .app
        .http
        .post(site.url("/par"))
        .form(&request.url.query_pairs().collect::<Vec<_>>())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request_uri = pushed["request_uri"].as_str().expect("a request_uri");
    let authorize = Url::parse_with_params(
        &site.url("/authorize"),
        [("client_id", "webapp"), ("request_uri", request_uri)],
    )
    .unwrap();

    with_browser(true, move |browser| async move {
        let issuer = site.app.issuer();
        browser.goto(authorize.as_str()).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        sign_in_on_the_page(&browser, "carol").await;
        wait_for(
            &browser,
            "form[action='/consent'] button[name='decision'][value='allow']",
        )
        .await
        .click()
        .await
        .unwrap();
        let landed = wait_for_address(&browser, &client.redirect_uri).await;
        let token = client.redeem(&landed, request, &issuer).await;
        let answer = site
            .app
            .introspect(oauth2::TokenResponse::access_token(&token).secret())
            .await;
        assert_eq!(answer["username"], "carol", "{answer}");

        // The same URL again (a reload, a replay): the request_uri is spent.
        browser.goto(authorize.as_str()).await.unwrap();
        let page = browser.source().await.unwrap();
        assert!(page.contains("used already"), "{page}");
    })
    .await;
}
