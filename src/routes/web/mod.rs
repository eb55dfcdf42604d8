//! Browser-facing routes: `/authorize`, the login and consent pages, `/account`, passkeys, the
//! stylesheet and the passkey script.
//! Each handler is a thin adapter: parse the request, call one function of `crate::signin`, render
//! or redirect.

mod account;
mod account_security;
mod authorize;
mod consent;
mod cookies;
mod device;
mod login;
mod logout;
mod pages;
mod passkeys;
mod second_factor;
mod signed_in;
mod stylesheet;

use std::future::{Ready, ready};

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::credentials::{DeviceCookies, LockoutPolicy, PasswordHasher};
use crate::mfa::passkeys::Passkeys;
use crate::mfa::totp::TotpSealer;
use crate::routes::client_ip::client_ip;
use crate::signin::{FlowContext, LoginTransaction, PageKeys, Step};
use crate::store::{Session, Store, StoreError};
use crate::tokens::TokenService;

pub use cookies::PageCookie;

/// Mounts the browser-facing routes.
pub fn configure(cfg: &mut ServiceConfig) {
    authorize::configure(cfg);
    login::configure(cfg);
    consent::configure(cfg);
    account::configure(cfg);
    device::configure(cfg);
    account_security::configure(cfg);
    logout::configure(cfg);
    passkeys::configure(cfg);
    second_factor::configure(cfg);
    stylesheet::configure(cfg);
}

/// The application state the pages use, taken from the app data once per request.
pub struct WebState {
    store: Data<Store>,
    cache: Data<CredentialCache>,
    settings: Data<Settings>,
    tokens: Data<TokenService>,
    audit: Data<AuditLog>,
    keys: Data<PageKeys>,
    clock: Data<Clock>,
    hasher: Data<PasswordHasher>,
    lockout: Data<LockoutPolicy>,
    device_cookies: Data<DeviceCookies>,
    passkeys: Data<Passkeys>,
    sealer: Data<TotpSealer>,
    ip: Option<String>,
}

impl FromRequest for WebState {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        fn data<T: ?Sized + 'static>(request: &HttpRequest) -> Result<Data<T>, actix_web::Error> {
            request.app_data::<Data<T>>().cloned().ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("application state is missing")
            })
        }
        let state = (|| {
            let settings: Data<Settings> = data(request)?;
            let ip = client_ip(request, settings.security.trust_forwarded_for);
            Ok(WebState {
                store: data(request)?,
                cache: data(request)?,
                tokens: data(request)?,
                audit: data(request)?,
                keys: data(request)?,
                clock: data(request)?,
                hasher: data(request)?,
                lockout: data(request)?,
                device_cookies: data(request)?,
                passkeys: data(request)?,
                sealer: data(request)?,
                settings,
                ip,
            })
        })();
        ready(state)
    }
}

impl WebState {
    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The signed-in session and the form of a CSRF-protected post to a page of the session
    /// (`/account`, `/device`), or the response saying why not: without a session, back to
    /// `page`; a form of another session gets an error page saying `foreign_form`.
    async fn session_form(
        &self,
        request: &HttpRequest,
        body: &[u8],
        page: &str,
        foreign_form: &str,
    ) -> Result<(crate::store::Session, crate::signin::RawParameters), HttpResponse> {
        let session = match self.session(request).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(pages::see_other(page, &[])),
            Err(error) => return Err(self.unavailable(error)),
        };
        let form = form_parameters(body).ok_or_else(|| {
            self.error_page(StatusCode::BAD_REQUEST, "The form could not be read.")
        })?;
        if !form
            .get("csrf")
            .is_some_and(|token| self.keys.csrf_matches(&session.handle, token))
        {
            return Err(self.error_page(StatusCode::FORBIDDEN, foreign_form));
        }
        Ok((session, form))
    }

    /// Whether cookies get `Secure` and the `__Host-` prefix.
    fn secure(&self) -> bool {
        self.tokens.issuer().starts_with("https://")
    }

    fn flow(&self) -> FlowContext<'_> {
        FlowContext {
            store: &self.store,
            cache: &self.cache,
            settings: &self.settings,
            issuer: self.tokens.issuer(),
            audit: &self.audit,
            ip: self.ip.clone(),
            now: self.now(),
            keys: &self.keys,
        }
    }

    /// The password check of a page's form, for a sign-in to `client_id` (empty for the
    /// account page).
    fn password_check<'a>(
        &'a self,
        request: &HttpRequest,
        client_id: &'a str,
    ) -> crate::signin::PasswordCheck<'a> {
        crate::signin::PasswordCheck {
            store: &self.store,
            hasher: &self.hasher,
            lockout: &self.lockout,
            audit: &self.audit,
            device_cookies: &self.device_cookies,
            ip: self.ip.clone(),
            still_waiting: crate::net::liveness::still_waiting(request),
            cookie_header: cookie_header(request).map(str::to_owned),
            client_id,
        }
    }

    /// The one-time code check of a page's form for `user`, for a sign-in to `client_id`
    /// (empty for the account page); the user's device cookie exempts it from the guess budget.
    fn one_time_code_check<'a>(
        &'a self,
        request: &HttpRequest,
        user: &crate::store::User,
        client_id: &'a str,
    ) -> crate::mfa::OneTimeCodeCheck<'a> {
        let user_key = crate::credentials::LoginKeys::new(&user.username, None);
        crate::mfa::OneTimeCodeCheck {
            store: &self.store,
            lockout: &self.lockout,
            audit: &self.audit,
            sealer: &self.sealer,
            ip: self.ip.clone(),
            client_id,
            known_device: self.device_cookies.vouches_for(
                cookie_header(request),
                user_key.user_key(),
                self.now(),
            ),
        }
    }

    /// The browser's live session, if any.
    async fn session(&self, request: &HttpRequest) -> Result<Option<Session>, StoreError> {
        let cookie = PageCookie::Session.read(request, self.secure());
        crate::signin::sessions::current_session(
            &self.store,
            &self.cache,
            &self.settings.sessions,
            cookie.as_deref(),
            self.now(),
        )
        .await
    }

    /// The login transaction the browser carries, if it is intact and unexpired.
    fn transaction(&self, request: &HttpRequest) -> Option<LoginTransaction> {
        let sealed = PageCookie::Login.read(request, self.secure())?;
        LoginTransaction::open(&self.keys, &sealed, self.now())
    }

    /// The `Set-Cookie` value carrying `transaction`, or `None` when it is too large for one.
    fn transaction_cookie(&self, transaction: &LoginTransaction) -> Option<String> {
        let sealed = transaction.seal(&self.keys)?;
        (sealed.len() <= crate::signin::MAX_COOKIE_VALUE_BYTES).then(|| {
            PageCookie::Login.set(
                self.secure(),
                &sealed,
                self.settings.sessions.login_ttl_secs,
            )
        })
    }

    /// The error page.
    fn error_page(&self, status: StatusCode, message: &str) -> HttpResponse {
        pages::error_page(&self.settings.pages, status, message)
    }

    /// The error page for a storage failure.
    fn unavailable(&self, error: StoreError) -> HttpResponse {
        match error {
            StoreError::Unavailable(_) => self.error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Please try again in a moment.",
            ),
            other => {
                log::error!("sign-in page failed: {other:?}");
                self.error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side.",
                )
            }
        }
    }

    /// The response for a flow step, with `cookies` set on it.
    fn respond(&self, step: Step, mut cookies: Vec<String>) -> HttpResponse {
        match self.next_location(step, &mut cookies) {
            Ok(location) => pages::see_other(&location, &cookies),
            Err(message) => self.error_page(StatusCode::BAD_REQUEST, &message),
        }
    }

    /// Where the browser goes for a flow step (adding the cookies that go with it), or the
    /// message of the error page (400) to show instead. Pages answer with a redirect there; the
    /// passkey script navigates.
    fn next_location(&self, step: Step, cookies: &mut Vec<String>) -> Result<String, String> {
        match step {
            Step::ToClient(location) => {
                cookies.push(PageCookie::Login.clear(self.secure()));
                Ok(location)
            }
            Step::Account => {
                cookies.push(PageCookie::Login.clear(self.secure()));
                Ok("/account".to_owned())
            }
            Step::Device(user_code) => {
                cookies.push(PageCookie::Login.clear(self.secure()));
                // A normalised user code: letters only, nothing to escape.
                Ok(user_code.map_or_else(
                    || "/device".to_owned(),
                    |code| format!("/device?user_code={code}"),
                ))
            }
            Step::Login(transaction)
            | Step::Consent(transaction)
            | Step::SecondFactor(transaction)
            | Step::Enrol(transaction) => {
                let next = match transaction.stage {
                    crate::signin::Stage::Login => "/login",
                    crate::signin::Stage::Consent { .. } => "/consent",
                    crate::signin::Stage::SecondFactor { .. } => "/login/second-factor",
                    crate::signin::Stage::Enrol { .. } => "/login/enrol",
                };
                let cookie = self
                    .transaction_cookie(&transaction)
                    .ok_or("The authorization request is too large.")?;
                cookies.push(cookie);
                Ok(next.to_owned())
            }
            Step::Page(message) => Err(message),
        }
    }
}

/// The request's `Cookie` header.
fn cookie_header(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get(actix_web::http::header::COOKIE)
        .and_then(|value| value.to_str().ok())
}

/// Whether the request says its body is a form (`application/x-www-form-urlencoded`).
fn is_form(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// A form body's parameters, each at most once; `None` when it is not a well-formed form.
fn form_parameters(body: &[u8]) -> Option<crate::signin::RawParameters> {
    let text = std::str::from_utf8(body).ok()?;
    crate::signin::RawParameters::parse(text).ok()
}
