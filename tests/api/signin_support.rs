//! A cookie-keeping browser stand-in for the sign-in tests: follows authd's own redirects, fills
//! the login and consent forms, and stops at the client's redirect URI.

use authd::credentials::{generate_secret, hash_secret};
use authd::domain::{ClientId, GrantType, RedirectUri, ScopeSet};
use authd::store::{BrowserSettings, NewClient};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION};
use serde_json::Value;

use crate::helpers::TestApp;

/// Where test clients receive codes (never contacted: the browser stops at the redirect).
pub const REDIRECT: &str = "https://app.example.test/callback";

/// A client registered for the authorization code flow.
pub struct WebClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

impl WebClient {
    /// Exchanges `code` at /token (Basic for confidential clients, client_id for public ones).
    pub async fn exchange(
        &self,
        app: &TestApp,
        code: &str,
        verifier: Option<&str>,
        redirect_uri: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code)];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        if let Some(uri) = redirect_uri {
            form.push(("redirect_uri", uri));
        }
        match &self.secret {
            Some(secret) => app.post_form_basic("/token", &self.id, secret, &form).await,
            None => {
                form.push(("client_id", &self.id));
                app.post_form("/token", &form).await
            }
        }
    }
}

/// How to register a test client.
pub struct ClientSpec<'a> {
    pub id: &'a str,
    pub scopes: &'a [&'a str],
    pub public: bool,
    pub skip_consent: bool,
    pub pkce_optional: bool,
    pub redirect_uris: &'a [&'a str],
    pub refresh: bool,
}

impl<'a> ClientSpec<'a> {
    /// A confidential third-party client with refresh tokens, redirecting to `REDIRECT`.
    pub fn third_party(id: &'a str, scopes: &'a [&'a str]) -> Self {
        Self {
            id,
            scopes,
            public: false,
            skip_consent: false,
            pkce_optional: false,
            redirect_uris: &[REDIRECT],
            refresh: true,
        }
    }
}

/// Registers a browser client.
pub async fn add_web_client(app: &TestApp, spec: ClientSpec<'_>) -> WebClient {
    let secret = (!spec.public).then(generate_secret);
    let mut grants = vec![GrantType::AuthorizationCode];
    if spec.refresh {
        grants.push(GrantType::RefreshToken);
    }
    let new = NewClient {
        client_id: ClientId::parse(spec.id).unwrap(),
        secret_hash: secret.as_deref().map(hash_secret),
        grants: grants.into_iter().collect(),
        scopes: ScopeSet::from_tokens(spec.scopes).unwrap(),
        browser: BrowserSettings {
            client_name: format!("The {} app", spec.id),
            redirect_uris: spec
                .redirect_uris
                .iter()
                .map(|u| RedirectUri::parse(u).unwrap())
                .collect(),
            allowed_origins: Vec::new(),
            skip_consent: spec.skip_consent,
            pkce_optional: spec.pkce_optional,
            ..BrowserSettings::default()
        },
    };
    app.store
        .create_client(&new, authd::clock::unix_now())
        .await
        .unwrap();
    WebClient {
        id: spec.id.to_owned(),
        secret,
        redirect_uri: spec.redirect_uris[0].to_owned(),
    }
}

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = generate_secret();
        let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()).as_ref());
        Self {
            verifier,
            challenge,
        }
    }
}

/// A browser: keeps cookies, does not follow redirects by itself.
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Browser {
    pub fn new() -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar,
        }
    }

    /// The `Cookie` header this browser sends to `url`.
    pub fn cookie_header(&self, url: &str) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&reqwest::Url::parse(url).unwrap())
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(url).form(form).send().await.unwrap()
    }

    /// GET /authorize with `params` plus client_id, response_type=code and redirect_uri.
    pub async fn authorize(
        &self,
        app: &TestApp,
        client: &WebClient,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
        ];
        query.extend_from_slice(params);
        let url = reqwest::Url::parse_with_params(&app.url("/authorize"), &query).unwrap();
        self.get(url.as_str()).await
    }

    /// Submits the login form the browser's transaction shows.
    pub async fn sign_in(
        &self,
        app: &TestApp,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self.get(&app.url("/login")).await;
        assert_eq!(page.status(), 200);
        let csrf = csrf_of(&page.text().await.unwrap());
        self.post(
            &app.url("/login"),
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Submits the consent page with `decision`.
    pub async fn decide(&self, app: &TestApp, decision: &str) -> reqwest::Response {
        let page = self.get(&app.url("/consent")).await;
        assert_eq!(page.status(), 200, "consent page");
        let csrf = csrf_of(&page.text().await.unwrap());
        self.post(
            &app.url("/consent"),
            &[("csrf", &csrf), ("decision", decision)],
        )
        .await
    }

    /// From /authorize to a code: signs in and allows consent whenever asked.
    pub async fn code_for(
        &self,
        app: &TestApp,
        client: &WebClient,
        pkce: &Pkce,
        scope: &str,
        password: &str,
    ) -> String {
        self.code_with(app, client, pkce, &[("scope", scope)], password)
            .await
    }

    /// Like `code_for`, with any extra /authorize parameters (`scope`, `nonce`, ...).
    pub async fn code_with(
        &self,
        app: &TestApp,
        client: &WebClient,
        pkce: &Pkce,
        extra: &[(&str, &str)],
        password: &str,
    ) -> String {
        let mut params = vec![
            ("state", "s-1"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        let mut response = self.authorize(app, client, &params).await;
        loop {
            assert_eq!(response.status(), 303, "expected a redirect");
            let to = location(&response);
            if to == "/login" {
                response = self.sign_in(app, "alice", password).await;
            } else if to == "/consent" {
                response = self.decide(app, "allow").await;
            } else {
                assert!(to.starts_with(&client.redirect_uri), "{to}");
                assert_eq!(param(&to, "state").as_deref(), Some("s-1"));
                assert_eq!(param(&to, "iss"), Some(app.issuer()));
                return param(&to, "code").expect("a code");
            }
        }
    }
}

/// The stored user called `username`.
pub async fn user_named(app: &TestApp, username: &str) -> authd::store::User {
    app.store
        .find_user(&authd::domain::Username::parse(username).unwrap())
        .await
        .unwrap()
        .expect("the user exists")
}

/// The `Location` header.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The hidden CSRF field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Asserts an answer is an error page (HTML with a CSP), not a redirect.
pub async fn assert_error_page(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert!(
        response.headers().get(LOCATION).is_none(),
        "must not redirect"
    );
    let csp = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    response.text().await.unwrap()
}

/// The JSON of a token response.
pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
