//! Issue 13, "Done when", the TOTP half: a person enrols an authenticator app by scanning the QR
//! code the page shows (decoded from a real screenshot, the code computed by `totp-rs`), signs in
//! with password and code, and recovers with a recovery code; the tokens say how.

use fantoccini::{Client, Locator};
use totp_rs::Totp;

use crate::backend_tests;
use crate::helpers::Backend;
use crate::sign_in::keep_screenshot;
use crate::site::{PASSWORD, Site, sign_in_on_the_page};
use crate::webdriver::{describe, wait_for, wait_for_address};

backend_tests!(a_person_enrols_an_authenticator_app_signs_in_with_it_and_recovers);

/// The text a QR code in a PNG holds.
fn read_qr_code(png: &[u8]) -> String {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a PNG size")];
    let frame = reader.next_frame(&mut pixels).expect("a PNG frame");
    let channels = frame.color_type.samples();
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        let at = (y * width + x) * channels;
        let rgb = &pixels[at..at + channels.min(3)];
        (rgb.iter().map(|&v| u32::from(v)).sum::<u32>() / rgb.len() as u32) as u8
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the screenshot");
    grids[0].decode().expect("a readable QR code").1
}

/// Types `text` into the field `css` and submits its form with the button `button`.
async fn submit(browser: &Client, field: &str, text: &str, button: &str) {
    wait_for(browser, field)
        .await
        .send_keys(text)
        .await
        .unwrap();
    browser
        .find(Locator::Css(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The current TOTP code, or the next step's (authd accepts one step of drift, and refuses a
/// step it has already accepted).
fn code(totp: &Totp, steps_ahead: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + steps_ahead * totp.step()).to_string()
}

async fn sign_out(browser: &Client, site: &Site) {
    browser.goto(&site.url("/account")).await.unwrap();
    wait_for(browser, "form[action='/account/signout'] button")
        .await
        .click()
        .await
        .unwrap();
    wait_for_address(browser, &site.url("/account/signout")).await;
    wait_for_heading(browser, "Signed out").await;
}

/// Waits until the page's heading reads `text` (a form answered at the same address).
async fn wait_for_heading(browser: &Client, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let heading = match browser.find(Locator::Css("h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if heading == text {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no heading {text:?}; {}",
            describe(browser).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn a_person_enrols_an_authenticator_app_signs_in_with_it_and_recovers(backend: Backend) {
    let site = Site::start(backend).await;
    site.add_person("alice").await;
    let client = site.add_web_client("portal", "Portal", true, true).await;

    crate::webdriver::with_browser(false, move |browser| async move {
        // Sign in with the password, then set up an authenticator app on the account page.
        browser.goto(&site.url("/account")).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        sign_in_on_the_page(&browser, "alice").await;
        wait_for(&browser, "a[href='/account/totp/setup']")
            .await
            .click()
            .await
            .unwrap();
        submit(
            &browser,
            "input[name='password']",
            PASSWORD,
            "form[action='/account/totp/setup'] button[type='submit']",
        )
        .await;

        // Scan the code as a phone would: from the pixels on the screen.
        wait_for(&browser, ".qr svg").await;
        let png = browser.screenshot().await.expect("a screenshot");
        std::fs::write(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("totp-qr.png"),
            &png,
        )
        .unwrap();
        let scanned = read_qr_code(&png);
        assert!(scanned.starts_with("otpauth://totp/"), "{scanned}");
        let shown = wait_for(&browser, "#totp-uri").await.text().await.unwrap();
        assert_eq!(scanned, shown, "the QR code holds the link shown beside it");
        let totp = Totp::from_url(&scanned).expect("an otpauth URI every app accepts");
        assert_eq!((totp.digits(), totp.step()), (6, 30));
        if backend == Backend::Sqlite {
            keep_screenshot(&browser, "totp-setup.png").await;
        }
        submit(
            &browser,
            "input[name='otp']",
            &code(&totp, 0),
            "form[action='/account/totp/confirm'] button[type='submit']",
        )
        .await;

        // Ten recovery codes, shown once.
        wait_for(&browser, "ul.codes").await;
        let mut recovery_codes = Vec::new();
        for element in browser
            .find_all(Locator::Css("ul.codes code"))
            .await
            .unwrap()
        {
            recovery_codes.push(element.text().await.unwrap());
        }
        assert_eq!(recovery_codes.len(), 10, "{}", describe(&browser).await);
        if backend == Backend::Sqlite {
            keep_screenshot(&browser, "recovery-codes.png").await;
        }
        sign_out(&browser, &site).await;

        // Password and code: the code of the next step (the current one was used to enrol).
        let request = client.authorization_request();
        browser.goto(request.url.as_str()).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        sign_in_on_the_page(&browser, "alice").await;
        wait_for_address(&browser, &site.url("/login/second-factor")).await;
        if backend == Backend::Sqlite {
            keep_screenshot(&browser, "second-factor.png").await;
        }
        submit(
            &browser,
            "input[name='otp']",
            &code(&totp, 1),
            "form[action='/login/second-factor'] button[type='submit']",
        )
        .await;
        let landed = wait_for_address(&browser, &client.redirect_uri).await;
        let token = client.redeem(&landed, request, &site.app.issuer()).await;
        let answer = site
            .app
            .introspect(oauth2::TokenResponse::access_token(&token).secret())
            .await;
        assert_eq!(answer["acr"], "urn:authd:acr:mfa", "{answer}");
        assert_eq!(
            answer["amr"],
            serde_json::json!(["pwd", "otp", "mfa"]),
            "{answer}"
        );
        sign_out(&browser, &site).await;

        // Without the phone: a recovery code, once, and the person is told how many are left.
        let request = client.authorization_request();
        browser.goto(request.url.as_str()).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        sign_in_on_the_page(&browser, "alice").await;
        submit(
            &browser,
            "input[name='otp']",
            &recovery_codes[3],
            "form[action='/login/second-factor'] button[type='submit']",
        )
        .await;
        wait_for_heading(&browser, "Recovery code used").await;
        let page = wait_for(&browser, "main").await.text().await.unwrap();
        assert!(page.contains("9 recovery codes left"), "{page}");
        wait_for(&browser, "a.button").await.click().await.unwrap();
        let landed = wait_for_address(&browser, &client.redirect_uri).await;
        client.redeem(&landed, request, &site.app.issuer()).await;
        sign_out(&browser, &site).await;

        // The same recovery code is no way in a second time.
        let request = client.authorization_request();
        browser.goto(request.url.as_str()).await.unwrap();
        wait_for(&browser, "input[name='username']").await;
        sign_in_on_the_page(&browser, "alice").await;
        submit(
            &browser,
            "input[name='otp']",
            &recovery_codes[3],
            "form[action='/login/second-factor'] button[type='submit']",
        )
        .await;
        wait_for_heading(&browser, "Confirm it's you").await;
        let error = wait_for(&browser, ".error").await.text().await.unwrap();
        assert!(error.contains("not valid"), "{error}");
    })
    .await;
}
