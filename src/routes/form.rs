//! The form body of the OAuth endpoints, read strictly (RFC 6749 section 3.2).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Data};
use actix_web::{FromRequest, HttpRequest, dev};
use futures_core::Stream;

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

/// The limit when the settings are not in the app (actix's own `web::Bytes` default).
const DEFAULT_LIMIT: usize = 256 * 1024;

impl FromRequest for FormBody {
    type Error = actix_web::Error;
    type Future = FormBodyFuture;

    fn from_request(request: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        // The same number `startup.rs` gives `PayloadConfig`, which keeps its own private.
        let limit = request
            .app_data::<Data<Settings>>()
            .map_or(DEFAULT_LIMIT, |settings| settings.server.max_form_bytes);
        // A declared length over the limit is refused before anything is read, as actix does.
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
        FormBodyFuture {
            payload: payload.take(),
            limit,
            refused: declared.is_some_and(|length| length > limit),
            first: None,
            rest: None,
        }
    }
}

/// Reads a `FormBody`. A body that arrives in one chunk (a form almost always does) is kept as
/// that chunk, without a copy; `web::Bytes` allocated 8 KiB for every body and copied into it,
/// and an allocation that large also made the allocator tidy its free lists on every request.
pub struct FormBodyFuture {
    payload: dev::Payload,
    limit: usize,
    refused: bool,
    first: Option<Bytes>,
    // Only when the body came in several chunks.
    rest: Option<BytesMut>,
}

impl FormBodyFuture {
    fn too_large(&self) -> actix_web::Error {
        OAuthError::BodyTooLarge {
            limit: Some(self.limit),
        }
        .into()
    }
}

impl Future for FormBodyFuture {
    type Output = Result<FormBody, actix_web::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.refused {
            return Poll::Ready(Err(self.too_large()));
        }
        loop {
            let chunk = match Pin::new(&mut self.payload).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                // A broken or late body keeps actix's or the deadline's answer.
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error.into())),
                Poll::Ready(Some(Ok(chunk))) => chunk,
                Poll::Ready(None) => {
                    let this = &mut *self;
                    let body = match this.rest.take() {
                        Some(joined) => joined.freeze(),
                        None => this.first.take().unwrap_or_default(),
                    };
                    return Poll::Ready(Ok(FormBody(body)));
                }
            };
            let this = &mut *self;
            let read = this.first.as_ref().map_or(0, Bytes::len)
                + this.rest.as_ref().map_or(0, BytesMut::len);
            if read + chunk.len() > this.limit {
                return Poll::Ready(Err(this.too_large()));
            }
            match (&mut this.rest, this.first.take()) {
                (Some(joined), _) => joined.extend_from_slice(&chunk),
                (None, Some(first)) => {
                    let mut joined = BytesMut::with_capacity(first.len() + chunk.len());
                    joined.extend_from_slice(&first);
                    joined.extend_from_slice(&chunk);
                    this.rest = Some(joined);
                }
                (None, None) => this.first = Some(chunk),
            }
        }
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
    use actix_web::error::PayloadError;
    use actix_web::test::TestRequest;

    use super::*;

    /// A payload that arrives as `parts`, one chunk each.
    fn arriving_in(parts: &[&'static str]) -> dev::Payload {
        let chunks: Vec<Result<Bytes, PayloadError>> = parts
            .iter()
            .map(|part| Ok(Bytes::from_static(part.as_bytes())))
            .collect();
        dev::Payload::Stream {
            payload: Box::pin(futures_util::stream::iter(chunks)),
        }
    }

    async fn read(
        limit: usize,
        declared: Option<usize>,
        parts: &[&'static str],
    ) -> Result<FormBody, actix_web::Error> {
        let mut settings = Settings::default();
        settings.server.max_form_bytes = limit;
        let mut request = TestRequest::post().app_data(Data::new(settings));
        if let Some(length) = declared {
            request = request.insert_header((header::CONTENT_LENGTH, length));
        }
        FormBody::from_request(&request.to_http_request(), &mut arriving_in(parts)).await
    }

    #[actix_web::test]
    async fn a_body_in_several_chunks_is_read_whole_and_held_to_the_limit() {
        let one = read(64, None, &["grant_type=client_credentials"])
            .await
            .unwrap();
        assert_eq!(&*one, b"grant_type=client_credentials");
        let three = read(64, None, &["grant_type=client", "_credentials", "&scope=a"])
            .await
            .unwrap();
        assert_eq!(&*three, b"grant_type=client_credentials&scope=a");
        let empty = read(64, None, &[]).await.unwrap();
        assert!(empty.is_empty());
        let exactly = read(8, None, &["1234", "5678"]).await.unwrap();
        assert_eq!(&*exactly, b"12345678");

        let over = read(8, None, &["1234", "56789"]).await.unwrap_err();
        assert_eq!(over.as_response_error().status_code(), 413);
        let declared_over = read(8, Some(9), &["1"]).await.unwrap_err();
        assert_eq!(declared_over.as_response_error().status_code(), 413);
    }

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
