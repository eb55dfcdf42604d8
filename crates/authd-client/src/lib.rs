//! Guards actix-web routes with authd access tokens: configure once, then one extractor per handler.
//! Requirements name scopes ([`scope!`]), roles ([`role!`]) or, for RFC 9470 step-up, the
//! strength and age of the user's sign-in ([`step_up!`]: `acr = [ACR_MFA]`, `max_age = 300`).
//! DPoP-bound tokens (RFC 9449) pass only with a valid proof of possession, checked against
//! [`Config::public_url`]; bearer tokens work as before. See the [`dpop`] module.
//! A service that calls another on its caller's behalf exchanges the caller's token for one
//! addressed to that service (RFC 8693, the [`exchange`] module); [`Caller::actor`] shows who
//! acts for the subject of such a token.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, get, web};
//! use authd_client::{AuthdClient, Config, Require};
//!
//! authd_client::scope!(ItemsRead, "items:read");
//!
//! #[get("/items")]
//! async fn list_items(_: Require<ItemsRead>) -> &'static str {
//!     "[]"
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let config = Config::introspect("http://127.0.0.1:8080", "items", "secret".into())
//!     .issuer("http://127.0.0.1:8080");
//! let authd = web::Data::new(AuthdClient::new(config).expect("valid authd settings"));
//! HttpServer::new(move || App::new().app_data(authd.clone()).service(list_items))
//!     .bind("127.0.0.1:8081")?
//!     .run()
//!     .await
//! # }
//! ```
#![warn(missing_docs)]

pub mod actor;
pub mod cache;
pub mod caller;
pub mod client;
pub mod config;
pub mod dpop;
pub mod error;
pub mod exchange;
pub mod extract;
pub mod introspect;
pub mod jwks;

pub use actor::Actor;
pub use caller::Caller;
pub use client::AuthdClient;
pub use config::{Config, ConfigError, Mode};
pub use error::{AuthError, Rejection, Scheme, StepUp};
pub use extract::{Require, Requirement};

/// authd's `acr` for a sign-in with a password alone.
pub const ACR_PWD: &str = "urn:authd:acr:pwd";
/// authd's `acr` for a sign-in with a second factor, or with a passkey (user verification).
pub const ACR_MFA: &str = "urn:authd:acr:mfa";
