//! The form body of the OAuth endpoints, read strictly (RFC 6749 section 3.2).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest, dev};

use crate::config::Settings;
use crate::credentials::ClientCredentials;
use crate::error::OAuthError;

/// The raw body of an OAuth request, as `web::Bytes` reads it, except that a body over the
/// `server.max_form_bytes` limit is answered with the RFC 6749 section 5.2 JSON shape (413), not
/// actix's plain text.
#[derive(Debug)]
pub struct FormBody(pub Bytes);

impl std::ops::Deref for FormBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl FromRequest for FormBody {
    type Error = actix_web::Error;
    type Future = FormBodyFuture;

    fn from_request(request: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        // The same number `startup.rs` gives `PayloadConfig`, which keeps its own private.
        let limit = request
            .app_data::<Data<Settings>>()
            .map(|settings| settings.server.max_form_bytes);
        FormBodyFuture {
            body: Bytes::from_request(request, payload),
            limit,
        }
    }
}

/// Reads a `FormBody`; no allocation beyond what `web::Bytes` makes.
pub struct FormBodyFuture {
    body: <Bytes as FromRequest>::Future,
    limit: Option<usize>,
}

impl Future for FormBodyFuture {
    type Output = Result<FormBody, actix_web::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let limit = self.limit;
        Pin::new(&mut self.body).poll(cx).map(|read| match read {
            Ok(bytes) => Ok(FormBody(bytes)),
            Err(error) if matches!(error.as_error(), Some(PayloadError::Overflow)) => {
                Err(OAuthError::BodyTooLarge { limit }.into())
            }
            // Anything else (a broken or late body) keeps actix's or the deadline's answer.
            Err(error) => Err(error),
        })
    }
}

/// Parameters that may be sent more than once: `resource` (RFC 8707 section 2) and `audience`
/// (RFC 8693 section 2.1).
const REPEATABLE: &[&str] = &["resource", "audience"];

/// Parameters of an `application/x-www-form-urlencoded` request, each present at most once
/// except the `REPEATABLE` ones.
#[derive(Debug)]
pub struct OAuthForm {
    params: HashMap<String, String>,
    repeated: HashMap<String, Vec<String>>,
}

impl OAuthForm {
    /// Parses the body after checking the content type.
    pub fn parse(request: &HttpRequest, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::from_body(body)
    }

    /// Parses a form body (invalid UTF-8 is replaced, as browsers do). Names and values without
    /// escapes are borrowed from the body and copied once, into the maps: a token exchange's two
    /// tokens were decoded, checked and copied twice through serde.
    pub fn from_body(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        let mut repeated: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            // Section 3.1: a parameter without a value is treated as omitted.
            if value.is_empty() {
                continue;
            }
            if REPEATABLE.contains(&name.as_ref()) {
                repeated
                    .entry(name.into_owned())
                    .or_default()
                    .push(value.into_owned());
                continue;
            }
            match params.entry(name.into_owned()) {
                // Section 3.2: parameters must not be included more than once.
                Entry::Occupied(first) => {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter {:?} is repeated",
                        first.key()
                    )));
                }
                Entry::Vacant(slot) => {
                    slot.insert(value.into_owned());
                }
            }
        }
        Ok(Self { params, repeated })
    }

    /// Every value of a `REPEATABLE` parameter, in the order sent.
    pub fn get_all(&self, name: &str) -> &[String] {
        self.repeated.get(name).map_or(&[], Vec::as_slice)
    }

    /// A parameter, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A parameter that must be present.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name:?}")))
    }

    /// Client credentials from the Authorization header or this form.
    pub fn client_credentials(
        &self,
        request: &HttpRequest,
    ) -> Result<ClientCredentials, OAuthError> {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        Ok(ClientCredentials::extract(
            authorization,
            self.get("client_id"),
            self.get("client_secret"),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let error = OAuthForm::from_body(b"scope=a&scope=b").unwrap_err();
        assert!(matches!(error, OAuthError::InvalidRequest(_)));
    }

    #[test]
    fn resource_may_be_repeated() {
        let form =
            OAuthForm::from_body(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(form.get_all("resource"), ["https://a", "https://b"]);
        assert!(form.get_all("scope").is_empty());
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let form = OAuthForm::from_body(b"scope=&grant_type=password").unwrap();
        assert_eq!(form.get("scope"), None);
        assert_eq!(form.require("grant_type").unwrap(), "password");
        assert!(form.require("username").is_err());
    }

    #[test]
    fn values_are_percent_decoded() {
        let form = OAuthForm::from_body(b"password=a%26b+c").unwrap();
        assert_eq!(form.get("password"), Some("a&b c"));
    }
}
