//! Renders pages and redirects with the headers every HTML answer carries: a strict
//! Content-Security-Policy (no scripts, except authd's own passkey script file on the pages that
//! offer passkeys; no framing), `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer` (an authorization URL never leaks to the next site) and
//! `Cache-Control: no-store`. One function renders every error page.

use std::sync::OnceLock;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;
use aws_lc_rs::digest::{SHA256, digest};

use crate::config::PageSettings;

/// The stylesheet, compiled in.
pub const STYLESHEET: &str = include_str!("../../../static/authd.css");

/// `/static/authd-<first 16 hex digits of its SHA-256>.css`: a new stylesheet gets a new URL, so
/// the old one can be cached forever.
pub fn stylesheet_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let hash = digest(&SHA256, STYLESHEET.as_bytes());
        let hex = crate::hex::lower(&hash.as_ref()[..8]);
        format!("/static/authd-{hex}.css")
    })
}

/// What every page shows around its content.
pub struct Chrome {
    /// The product name.
    pub product_name: String,
    /// The notice under the login form.
    pub notice: String,
    /// The stylesheet's URL.
    pub css_href: &'static str,
}

impl Chrome {
    /// From the page settings.
    pub fn new(settings: &PageSettings) -> Self {
        Self {
            product_name: settings.product_name.clone(),
            notice: settings.notice.clone(),
            css_href: stylesheet_path(),
        }
    }
}

/// "You are signed out."
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage {
    /// The page's frame.
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
}

/// Whether a page runs authd's passkey script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scripts {
    /// No script at all (every page but two).
    None,
    /// `static/passkey.js` from authd, and its same-origin `fetch` calls; still no inline code.
    Passkeys,
}

/// The headers of every answer of the sign-in pages, redirects included.
fn with_page_headers(
    mut builder: HttpResponseBuilder,
    form_targets: &[String],
    scripts: Scripts,
) -> HttpResponseBuilder {
    // Chrome applies form-action to the redirects that follow a form post, so the page whose form
    // leads back to a client must allow that client's redirect URI.
    let mut form_action = String::from("'self'");
    for target in form_targets {
        form_action.push(' ');
        form_action.push_str(target);
    }
    let script = match scripts {
        Scripts::None => "",
        Scripts::Passkeys => "script-src 'self'; connect-src 'self'; ",
    };
    builder
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; {script}style-src 'self'; img-src 'self'; \
                 form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
            ),
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    builder
}

/// An HTML answer; `form_targets` are CSP sources the page's forms may end up at.
pub fn html(
    status: StatusCode,
    page: &impl Template,
    form_targets: &[String],
    cookies: &[String],
) -> HttpResponse {
    html_with(status, page, form_targets, cookies, Scripts::None)
}

/// Like `html`, for a page that runs `scripts`.
pub fn html_with(
    status: StatusCode,
    page: &impl Template,
    form_targets: &[String],
    cookies: &[String],
    scripts: Scripts,
) -> HttpResponse {
    let body = match page.render() {
        Ok(body) => body,
        Err(error) => {
            log::error!("rendering a page failed: {error}");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let mut builder = with_page_headers(HttpResponse::build(status), form_targets, scripts);
    for cookie in cookies {
        builder.append_header((header::SET_COOKIE, cookie.as_str()));
    }
    builder.content_type("text/html; charset=utf-8").body(body)
}

/// A 303 to `location` (a path of authd's, or a URI built by `signin::ClientRedirect`).
pub fn see_other(location: &str, cookies: &[String]) -> HttpResponse {
    let mut builder = with_page_headers(HttpResponse::SeeOther(), &[], Scripts::None);
    builder.insert_header((header::LOCATION, location));
    for cookie in cookies {
        builder.append_header((header::SET_COOKIE, cookie.as_str()));
    }
    builder.finish()
}

/// The error page: never a redirect, so a request that cannot be trusted goes nowhere.
pub fn error_page(settings: &PageSettings, status: StatusCode, message: &str) -> HttpResponse {
    let title = match status {
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::SERVICE_UNAVAILABLE => "Try again shortly",
        StatusCode::INTERNAL_SERVER_ERROR => "Something went wrong",
        _ => "This sign-in cannot continue",
    };
    let page = ErrorPage {
        chrome: Chrome::new(settings),
        title,
        message,
    };
    html(status, &page, &[], &[])
}

/// CSP source for a redirect URI: its origin, or its scheme for a native app's private-use one.
pub fn csp_source_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}
