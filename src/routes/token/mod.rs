//! `POST /token` (RFC 6749): reads the request, authenticates the client, dispatches on the grant.

mod client_credentials;
mod password;
mod refresh_token;
mod response;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, post, web};

use crate::config::Settings;
use crate::credentials::{PasswordHasher, authenticate_client};
use crate::domain::GrantType;
use crate::error::OAuthError;
use crate::routes::OAuthForm;
use crate::store::Store;
use crate::tokens::TokenService;

/// Mounts `/token`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(issue_token);
}

/// Issues tokens for the password, client_credentials and refresh_token grants.
#[post("/token")]
async fn issue_token(
    request: HttpRequest,
    body: Bytes,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    tokens: web::Data<TokenService>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::parse(&request, &body)?;
    let grant_name = form.require("grant_type")?;
    let grant = GrantType::parse(grant_name).map_err(|_| {
        OAuthError::UnsupportedGrantType(format!("grant_type {grant_name:?} is not supported"))
    })?;
    let credentials = form.client_credentials(&request)?;
    let client = authenticate_client(&store, &settings.oauth, &credentials).await?;
    if client.anonymous
        && (grant == GrantType::ClientCredentials
            || settings.oauth.require_client_auth_for_password)
    {
        return Err(OAuthError::InvalidClient {
            description: "client authentication is required".into(),
            basic: false,
        });
    }
    if !client.grants.contains(&grant) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "client {} may not use the {grant} grant",
            client.client_id
        )));
    }
    let response = match grant {
        GrantType::Password => {
            password::grant(&form, &client, &store, &hasher, &tokens, &settings).await?
        }
        GrantType::ClientCredentials => client_credentials::grant(&form, &client, &tokens)?,
        GrantType::RefreshToken => {
            refresh_token::grant(&form, &client, &store, &tokens, &settings).await?
        }
    };
    Ok(response.into_http())
}
