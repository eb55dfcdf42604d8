//! A real browser (headless Chromium, driven over WebDriver) signs in through authd's own pages
//! and through a relying party people deploy (Apache with mod_auth_openidc).
//!
//! Needs `chromedriver` (Debian: chromium, chromium-driver) on the PATH, and for the Apache test
//! apache2 and libapache2-mod-auth-openidc. Without them the tests print SKIPPED and pass, except
//! under CI=true, where they fail (as the PostgreSQL tests do).

// Shared with the API tests; this binary uses only part of it.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod apache;
mod callback;
mod device_flow;
mod logout;
mod mod_auth_openidc;
mod passkeys;
mod pushed_requests;
mod second_factors;
mod sign_in;
mod site;
mod webdriver;
