//! The form body of the OAuth endpoints, read strictly (RFC 6749 section 3.2).

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::credentials::ClientCredentials;
use crate::error::OAuthError;

/// Parameters of an `application/x-www-form-urlencoded` request, each present at most once.
#[derive(Debug)]
pub struct OAuthForm {
    params: HashMap<String, String>,
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

    /// Parses a form body.
    pub fn from_body(body: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("malformed form body"))?;
        let mut params = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            // Section 3.1: a parameter without a value is treated as omitted.
            if value.is_empty() {
                continue;
            }
            if params.insert(name.clone(), value).is_some() {
                // Section 3.2: parameters must not be included more than once.
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name:?} is repeated"
                )));
            }
        }
        Ok(Self { params })
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
