//! Issue 12, "Tests and proof": a relying party that people deploy, Apache with mod_auth_openidc,
//! protects a page with authd's discovery URL, a client id and a secret; a person signs in to it
//! through a real browser, and signs out of both through mod_auth_openidc's logout.

use authd::domain::{GrantType, RedirectUri};
use authd::store::BrowserSettings;
use fantoccini::Client;

use crate::apache::{Apache, OpenidcSettings, PROTECTED_PATH, SIGNED_OUT_PATH};
use crate::backend_tests;
use crate::helpers::Backend;
use crate::site::{Site, sign_in_on_the_page};
use crate::webdriver::{describe, wait_for, wait_for_address, with_browser};

/// The text of the element `css` on the page shown.
async fn text_of(browser: &Client, css: &str) -> String {
    wait_for(browser, css).await.text().await.unwrap()
}

async fn apache_with_mod_auth_openidc_signs_a_person_in_and_out_through_authd(backend: Backend) {
    let Some(mut apache) = Apache::prepare() else {
        return;
    };
    let site = Site::start(backend).await;
    site.add_person("dave").await;
    // As the book's `authd client add apache ... --skip-consent`.
    let browser_settings = BrowserSettings {
        client_name: "Intranet".to_owned(),
        redirect_uris: vec![RedirectUri::parse(&apache.redirect_uri()).unwrap()],
        post_logout_redirect_uris: vec![RedirectUri::parse(&apache.url(SIGNED_OUT_PATH)).unwrap()],
        skip_consent: true,
        ..BrowserSettings::default()
    };
    let secret = site
        .register_client(
            "apache",
            &[GrantType::AuthorizationCode],
            &["openid", "profile", "email"],
            browser_settings,
            false,
        )
        .await
        .unwrap();
    apache
        .start(&OpenidcSettings {
            metadata_url: &site.url("/.well-known/openid-configuration"),
            client_id: "apache",
            client_secret: &secret,
        })
        .await;

    with_browser(true, move |browser| async move {
        // Sign in: Apache sends the browser to authd, which asks for the password.
        let protected = apache.url(PROTECTED_PATH);
        browser.goto(&protected).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        assert!(
            browser
                .current_url()
                .await
                .unwrap()
                .as_str()
                .starts_with(&site.url("/login")),
            "{}",
            describe(&browser).await
        );
        sign_in_on_the_page(&browser, "dave").await;

        // mod_auth_openidc redeemed the code, validated the id_token and took the username.
        wait_for_address(&browser, &protected).await;
        assert_eq!(text_of(&browser, "#user").await, "dave");
        assert_eq!(text_of(&browser, "#email").await, "dave@example.test");
        assert_eq!(apache.openidc_errors(), Vec::<String>::new());

        // Sign out through mod_auth_openidc: it sends the browser to authd's
        // end_session_endpoint with its id_token_hint, and authd back to the registered page.
        let signed_out = apache.url(SIGNED_OUT_PATH);
        browser.goto(&apache.logout_url(&signed_out)).await.unwrap();
        wait_for_address(&browser, &signed_out).await;

        // authd's session ended too: the protected page asks for the password again.
        browser.goto(&protected).await.unwrap();
        wait_for(&browser, "form[action='/login'] input[name='username']").await;
        let url = browser.current_url().await.unwrap();
        assert!(
            url.as_str().starts_with(&site.url("/login")),
            "{}",
            describe(&browser).await
        );
        assert_eq!(apache.openidc_errors(), Vec::<String>::new());
    })
    .await;
}

backend_tests!(apache_with_mod_auth_openidc_signs_a_person_in_and_out_through_authd);
