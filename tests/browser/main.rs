//! A real browser (headless Chromium, driven over WebDriver) signs in through authd's own pages.
//!
//! Needs `chromedriver` (Debian: chromium, chromium-driver) on the PATH. Without it the tests
//! print SKIPPED and pass, except under CI=true, where they fail (as the PostgreSQL tests do).

// Shared with the API tests; this binary uses only part of it.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod callback;
mod logout;
mod sign_in;
mod site;
mod webdriver;
