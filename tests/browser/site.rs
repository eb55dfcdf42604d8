//! authd in-process with a `http://localhost:PORT` issuer, its browser clients, and the relying
//! party's side of the flow through the `oauth2` crate (a client library nobody here wrote).

use authd::credentials::{generate_secret, hash_secret};
use authd::domain::{BackchannelLogoutUri, ClientId, GrantType, RedirectUri, ScopeSet};
use authd::store::{BrowserSettings, NewClient};
use fantoccini::{Client, Locator};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::callback::Callback;
use crate::helpers::{Backend, TestApp, TestDatabase, test_settings};
use crate::webdriver::{describe, wait_for};

/// The one field OpenID Connect adds to a code's token response.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IdTokenField {
    /// Present when the granted scope holds `openid`.
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

/// What `/token` answers for a code, as the `oauth2` crate reads it.
pub type CodeTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// An `oauth2` client with its authorization and token endpoints set.
pub type RelyingParty = oauth2::Client<
    BasicErrorResponse,
    CodeTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// authd, the callback server, and the users the tests sign in as.
pub struct Site {
    pub app: TestApp,
    pub callback: Callback,
}

/// Password of every user these tests create.
pub const PASSWORD: &str = "correct horse battery";

/// A client registered for the browser flow.
pub struct WebClient {
    pub client_id: &'static str,
    pub redirect_uri: String,
    pub oauth: RelyingParty,
    /// The scopes its authorization requests ask for.
    pub scopes: &'static [&'static str],
    /// Where `/logout` may send the browser back to, when registered.
    pub post_logout_redirect_uri: Option<String>,
}

/// One authorization request: the URL to open, and what the client keeps to check the answer.
pub struct Request {
    pub url: Url,
    pub state: CsrfToken,
    pub verifier: PkceCodeVerifier,
}

impl Site {
    /// Starts authd on `backend` with issuer `http://localhost:PORT`, a role `reader` and the
    /// callback server.
    pub async fn start(backend: Backend) -> Site {
        let database = TestDatabase::create(backend).await;
        let mut settings = test_settings(&database);
        // The issuer must be known before the server starts, so the port is chosen here.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port for authd")
            .port();
        settings.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        settings.tokens.issuer = Some(format!("http://localhost:{port}"));
        let app = TestApp::start(settings, database).await;
        app.add_role("reader", &["items:read", "items:write"]).await;
        Site {
            app,
            callback: Callback::start().await,
        }
    }

    /// `http://localhost:PORT{path}` on authd.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.issuer())
    }

    /// A user with role `reader` and [`PASSWORD`].
    pub async fn add_person(&self, username: &str) {
        self.app.add_user(username, PASSWORD, &["reader"]).await;
    }

    /// Registers a client for the authorization code flow, redirecting to the callback server
    /// at `/{client_id}/cb`. A public client has no secret and authenticates by client_id.
    pub async fn add_web_client(
        &self,
        client_id: &'static str,
        name: &str,
        skip_consent: bool,
        public: bool,
    ) -> WebClient {
        let browser = BrowserSettings {
            client_name: name.to_owned(),
            skip_consent,
            ..BrowserSettings::default()
        };
        let allowed = ["items:read", "items:write"];
        self.add_callback_client(client_id, &allowed, &["items:read"], browser, public)
            .await
    }

    /// Registers a confidential first-party OpenID Connect client at the callback server, with
    /// its post-logout URI at `/{client_id}/signed-out` and its back-channel logout URI at
    /// [`WebClient::backchannel_logout_path`].
    pub async fn add_openid_client(&self, client_id: &'static str) -> WebClient {
        let backchannel = self
            .callback
            .url(&WebClient::backchannel_logout_path_of(client_id));
        let signed_out = self.callback.url(&format!("/{client_id}/signed-out"));
        let browser = BrowserSettings {
            client_name: client_id.to_owned(),
            skip_consent: true,
            post_logout_redirect_uris: vec![RedirectUri::parse(&signed_out).unwrap()],
            backchannel_logout_uri: Some(BackchannelLogoutUri::parse(&backchannel).unwrap()),
            ..BrowserSettings::default()
        };
        let scopes = &["openid", "items:read"];
        let mut client = self
            .add_callback_client(client_id, scopes, scopes, browser, false)
            .await;
        client.post_logout_redirect_uri = Some(signed_out);
        client
    }

    /// Registers a client at the callback server that asks for `scopes` and may be granted
    /// `allowed`.
    async fn add_callback_client(
        &self,
        client_id: &'static str,
        allowed: &[&str],
        scopes: &'static [&'static str],
        mut browser: BrowserSettings,
        public: bool,
    ) -> WebClient {
        let redirect_uri = self.callback.url(&format!("/{client_id}/cb"));
        browser.redirect_uris = vec![RedirectUri::parse(&redirect_uri).unwrap()];
        let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken];
        let secret = self
            .register_client(client_id, &grants, allowed, browser, public)
            .await;
        let mut oauth = oauth2::Client::new(oauth2::ClientId::new(client_id.to_owned()))
            .set_auth_uri(AuthUrl::new(self.url("/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(self.url("/token")).unwrap())
            .set_redirect_uri(RedirectUrl::new(redirect_uri.clone()).unwrap());
        if let Some(secret) = secret {
            oauth = oauth.set_client_secret(oauth2::ClientSecret::new(secret));
        }
        WebClient {
            client_id,
            redirect_uri,
            oauth,
            scopes,
            post_logout_redirect_uri: None,
        }
    }

    /// Registers a client with `grants`, allowed `scopes` and `browser` settings, as
    /// `authd client add` does; returns its secret (None when `public`).
    pub async fn register_client(
        &self,
        client_id: &str,
        grants: &[GrantType],
        scopes: &[&str],
        browser: BrowserSettings,
        public: bool,
    ) -> Option<String> {
        let secret = (!public).then(generate_secret);
        let new = NewClient {
            client_id: ClientId::parse(client_id).unwrap(),
            secret_hash: secret.as_deref().map(hash_secret),
            grants: grants.iter().copied().collect(),
            scopes: ScopeSet::from_tokens(scopes).unwrap(),
            browser,
        };
        self.app
            .store
            .create_client(&new, authd::clock::unix_now())
            .await
            .unwrap();
        secret
    }
}

/// Fills in authd's login page the browser shows and submits it.
pub async fn sign_in_on_the_page(browser: &Client, username: &str) {
    let path = browser.current_url().await.unwrap().path().to_owned();
    assert_eq!(path, "/login", "{}", describe(browser).await);
    wait_for(browser, "form[action='/login'] input[name='username']")
        .await
        .send_keys(username)
        .await
        .unwrap();
    browser
        .find(Locator::Css("form[action='/login'] input[name='password']"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser
        .find(Locator::Css("form[action='/login'] button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

impl WebClient {
    /// Where the callback server receives `client_id`'s logout tokens.
    fn backchannel_logout_path_of(client_id: &str) -> String {
        format!("/{client_id}/backchannel-logout")
    }

    /// Where the callback server receives this client's logout tokens.
    pub fn backchannel_logout_path(&self) -> String {
        Self::backchannel_logout_path_of(self.client_id)
    }

    /// An authorization request for the client's scopes with PKCE S256, built by the `oauth2`
    /// crate.
    pub fn authorization_request(&self) -> Request {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        Request {
            url,
            state,
            verifier,
        }
    }

    /// Checks the redirect the browser landed on (state, RFC 9207 `iss`) and exchanges its code
    /// with the verifier through the `oauth2` crate.
    pub async fn redeem(&self, landed: &Url, request: Request, issuer: &str) -> CodeTokenResponse {
        let parameter = |name: &str| {
            landed
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        assert!(
            landed.as_str().starts_with(&self.redirect_uri),
            "landed at {landed}, not at {}",
            self.redirect_uri
        );
        assert_eq!(
            parameter("error"),
            None,
            "authd answered an error: {landed}"
        );
        assert_eq!(
            parameter("state").as_deref(),
            Some(request.state.secret().as_str())
        );
        assert_eq!(parameter("iss").as_deref(), Some(issuer), "RFC 9207 iss");
        let code = parameter("code").expect("a code in the redirect");
        let http = oauth2::reqwest::Client::builder()
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        self.oauth
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(request.verifier)
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{} could not redeem its code: {e:?}", self.client_id))
    }
}
