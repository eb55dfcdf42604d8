//! authd driven by code nobody here wrote: the `oauth2` crate as the client, `jsonwebtoken` as a
//! resource server that knows nothing but the JWKS document.

use authd::domain::GrantType;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, ResourceOwnerPassword,
    ResourceOwnerUsername, Scope, TokenResponse, TokenUrl,
};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

fn http_client() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn the_oauth2_crate_gets_refreshes_and_is_refused_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = app.seed_alice().await;
    let client = BasicClient::new(ClientId::new("public".into()))
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap())
        .set_auth_type(AuthType::RequestBody);
    let http = http_client();

    let token = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new(password.into()),
        )
        .add_scope(Scope::new("items:read".into()))
        .request_async(&http)
        .await
        .expect("password grant through the oauth2 crate");

    assert_eq!(
        token.scopes().unwrap(),
        &vec![Scope::new("items:read".into())]
    );
    assert_eq!(token.expires_in().unwrap().as_secs(), 900);
    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&http)
        .await
        .expect("refresh through the oauth2 crate");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        token.refresh_token().unwrap().secret()
    );
    // Presenting the exchanged token again at once is a retry: the same successor
    // (refresh_retry.rs); once the successor is used, it is reuse.
    let retried = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&http)
        .await
        .expect("a retry through the oauth2 crate");
    assert_eq!(
        retried.refresh_token().unwrap().secret(),
        refreshed.refresh_token().unwrap().secret()
    );
    client
        .exchange_refresh_token(refreshed.refresh_token().unwrap())
        .request_async(&http)
        .await
        .expect("refreshing with the successor");
    let replay = client
        .exchange_refresh_token(&RefreshToken::new(
            token.refresh_token().unwrap().secret().clone(),
        ))
        .request_async(&http)
        .await;
    match replay {
        Err(RequestTokenError::ServerResponse(error)) => {
            assert_eq!(*error.error(), BasicErrorResponseType::InvalidGrant)
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

async fn the_oauth2_crate_uses_client_credentials_with_basic_auth(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app
        .add_client(
            "batch-job",
            &[GrantType::ClientCredentials],
            &["jobs:run"],
            false,
        )
        .await
        .unwrap();
    let client = BasicClient::new(ClientId::new("batch-job".into()))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());

    let token = client
        .exchange_client_credentials()
        .request_async(&http_client())
        .await
        .unwrap();

    assert_eq!(
        token.scopes().unwrap(),
        &vec![Scope::new("jobs:run".into())]
    );
    assert!(token.refresh_token().is_none());
}

async fn a_resource_server_verifies_a_token_with_only_the_jwks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.password_token("alice", app.seed_alice().await).await;
    let access = token["access_token"].as_str().unwrap();
    let jwks: JwkSet = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let header = jsonwebtoken::decode_header(access).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[app.issuer()]);
    validation.set_audience(&[app.issuer()]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(access, &key, &validation)
        .unwrap()
        .claims;

    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["scope"], "items:read items:write");
    assert_eq!(claims["client_id"], "public");
    for claim in ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"] {
        assert!(claims.get(claim).is_some(), "{claim} missing");
    }
}

backend_tests!(
    the_oauth2_crate_gets_refreshes_and_is_refused_tokens,
    the_oauth2_crate_uses_client_credentials_with_basic_auth,
    a_resource_server_verifies_a_token_with_only_the_jwks,
);
