//! The authorization code flow from the browser's side: given a checked request and the
//! browser's session, decide the next step (login form, consent page, or an answer to the
//! client), and issue the code. No HTTP types here: web handlers turn a `Step` into a response.

use std::sync::Arc;

use super::authorization_request::AuthorizationRequest;
use super::code::seal_code;
use super::page_keys::PageKeys;
use super::redirect::ErrorCode;
use super::transaction::{Destination, LoginTransaction, Stage};
use crate::audit::{AuditEvent, AuditLog};
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::credentials::generate_secret;
use crate::domain::{ClientId, ScopeSet};
use crate::mfa::{AcrRequest, is_multi_factor};
use crate::openid::grantable_to_user;
use crate::store::{AuthorizationCode, Client, Session, Store, StoreError, User};

/// What a flow step needs, borrowed for one request.
pub struct FlowContext<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Cached clients.
    pub cache: &'a CredentialCache,
    /// Settings.
    pub settings: &'a Settings,
    /// The issuer, for `iss` on every answer (RFC 9207).
    pub issuer: &'a str,
    /// Audit trail.
    pub audit: &'a AuditLog,
    /// The caller's address.
    pub ip: Option<String>,
    /// Now, from the application's clock.
    pub now: i64,
    /// Seals codes.
    pub keys: &'a PageKeys,
}

/// What the browser sees next.
#[derive(Debug)]
pub enum Step {
    /// A redirect to the client: a code, or an error.
    ToClient(String),
    /// The login form, for this transaction.
    Login(LoginTransaction),
    /// The consent page, for this transaction.
    Consent(LoginTransaction),
    /// The second-factor page, for this transaction.
    SecondFactor(LoginTransaction),
    /// The page asking the person to enrol a second factor, for this transaction.
    Enrol(LoginTransaction),
    /// The account page.
    Account,
    /// `/device`, with the user code to prefill, if any.
    Device(Option<String>),
    /// An error page: the request cannot be answered at the client (it vanished meanwhile).
    Page(String),
}

/// What the consent page shows.
#[derive(Debug)]
pub struct ConsentRequest {
    /// The client's display name (its client_id when it has none).
    pub client_name: String,
    /// The client_id.
    pub client_id: String,
    /// Each scope asked for, with its description where one is configured.
    pub scopes: Vec<(String, Option<String>)>,
}

impl FlowContext<'_> {
    /// The first step of a checked request from a browser with `session` (if any).
    pub async fn authorize(
        &self,
        request: AuthorizationRequest,
        session: Option<Session>,
    ) -> Result<Step, StoreError> {
        let usable = session.filter(|session| {
            let too_old = request
                .max_age
                // max_age=0 asks for a fresh sign-in, like prompt=login (Core 3.1.2.1).
                .is_some_and(|max_age| max_age == 0 || self.now - session.auth_time > max_age);
            // An id_token_hint for someone else: this session cannot answer (Core 3.1.2.1).
            let someone_else = request
                .hinted_subject
                .as_ref()
                .is_some_and(|sub| *sub != session.user_id);
            !request.prompt.login && !too_old && !someone_else
        });
        match usable {
            Some(session) => self.proceed(request, &session).await,
            None if request.prompt.none => Ok(self.refuse(
                &request,
                ErrorCode::LoginRequired,
                "the user is not signed in",
            )),
            None => Ok(Step::Login(LoginTransaction::start(
                Destination::Client(Box::new(request)),
                self.now,
                self.settings.sessions.login_ttl_secs,
            ))),
        }
    }

    /// The step after a sign-in that `transaction` led to.
    pub async fn after_sign_in(
        &self,
        transaction: LoginTransaction,
        session: &Session,
    ) -> Result<Step, StoreError> {
        match transaction.destination {
            Destination::Account => Ok(Step::Account),
            Destination::Device(user_code) => Ok(Step::Device(user_code)),
            // The sign-in just happened: `prompt=login` and `max_age` are satisfied.
            Destination::Client(request) => self.proceed(*request, session).await,
        }
    }

    /// The consent page's content for `transaction`, if it is at consent for `session`.
    pub async fn consent_request(
        &self,
        transaction: &LoginTransaction,
        session: &Session,
    ) -> Result<Result<ConsentRequest, String>, StoreError> {
        let (request, client, scope) = match self.consent_context(transaction, session).await? {
            Ok(found) => found,
            Err(message) => return Ok(Err(message)),
        };
        let descriptions = &self.settings.pages.scope_descriptions;
        Ok(Ok(ConsentRequest {
            client_name: display_name(&client),
            client_id: request.client_id.clone(),
            scopes: scope
                .iter()
                .map(|s| (s.as_str().to_owned(), descriptions.get(s.as_str()).cloned()))
                .collect(),
        }))
    }

    /// The person's decision on the consent page.
    pub async fn decide(
        &self,
        transaction: &LoginTransaction,
        session: &Session,
        allow: bool,
    ) -> Result<Step, StoreError> {
        let (request, client, scope) = match self.consent_context(transaction, session).await? {
            Ok(found) => found,
            Err(message) => return Ok(Step::Page(message)),
        };
        let user = match self.store.find_user_by_id(&session.user_id).await? {
            Some(user) if !user.disabled => user,
            _ => return Ok(Step::Page("Your account is no longer available.".into())),
        };
        if !allow {
            self.record("consent.denied", &user, &client, &scope).await;
            return Ok(self.refuse(request, ErrorCode::AccessDenied, "the user denied access"));
        }
        self.store
            .grant_consent(
                &user.id,
                &client.client_id,
                &client.registration,
                &scope,
                self.now,
            )
            .await?;
        self.record("consent.granted", &user, &client, &scope).await;
        self.issue_code(request, &client, session, &scope).await
    }

    async fn consent_context<'t>(
        &self,
        transaction: &'t LoginTransaction,
        session: &Session,
    ) -> Result<Result<(&'t AuthorizationRequest, Arc<Client>, ScopeSet), String>, StoreError> {
        let for_this_session = matches!(
            &transaction.stage,
            Stage::Consent { session_handle } if *session_handle == session.handle
        );
        let Some(request) = transaction.request().filter(|_| for_this_session) else {
            return Ok(Err("This consent request is not for your session.".into()));
        };
        let Some(client) = self.client_of(request).await? else {
            return Ok(Err("The application is no longer registered.".into()));
        };
        match self.scope_for(request, &client, &session.user_id).await? {
            Ok(scope) => Ok(Ok((request, client, scope))),
            Err(_) => Ok(Err(
                "The application asks for more than you may grant.".into()
            )),
        }
    }

    async fn proceed(
        &self,
        request: AuthorizationRequest,
        session: &Session,
    ) -> Result<Step, StoreError> {
        let Some(client) = self.client_of(&request).await? else {
            return Ok(Step::Page(
                "The application is no longer registered.".into(),
            ));
        };
        // A live session vouches for its user: enabled, and at the generation it records.
        let scope = match self.scope_for(&request, &client, &session.user_id).await? {
            Ok(scope) => scope,
            Err(refused) => {
                let description = format!("scope not allowed for this user: {refused}");
                return Ok(self.refuse(&request, ErrorCode::InvalidScope, &description));
            }
        };
        if let Some(step) = self.demand_strength(&request, session).await? {
            return Ok(step);
        }
        if !client.browser.skip_consent {
            let consent = self
                .store
                .find_consent(&session.user_id, &client.client_id)
                .await?;
            let given = consent.is_some_and(|consent| {
                consent.client_registration == client.registration
                    && scope.is_subset(&consent.scopes)
            });
            if !given || request.prompt.consent {
                if request.prompt.none {
                    return Ok(self.refuse(
                        &request,
                        ErrorCode::ConsentRequired,
                        "the user has not approved this application",
                    ));
                }
                let transaction = LoginTransaction::start(
                    Destination::Client(Box::new(request)),
                    self.now,
                    self.settings.sessions.login_ttl_secs,
                )
                .to_consent(&session.handle);
                return Ok(Step::Consent(transaction));
            }
        }
        self.issue_code(&request, &client, session, &scope).await
    }

    /// The step that makes `session` strong enough for `request` (`acr_values`, or a role of the
    /// user that demands a second factor), or `None` when it already is: the second factor when
    /// the user has one, enrolment when they have none.
    async fn demand_strength(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
    ) -> Result<Option<Step>, StoreError> {
        if is_multi_factor(&session.amr) {
            return Ok(None);
        }
        let wanted = request.acr == AcrRequest::MultiFactor
            || self
                .cache
                .user_requires_mfa(self.store, &session.user_id)
                .await?;
        if !wanted {
            return Ok(None);
        }
        if request.prompt.none {
            return Ok(Some(self.refuse(
                request,
                ErrorCode::LoginRequired,
                "a sign-in with a second factor is required",
            )));
        }
        let destination = Destination::Client(Box::new(request.clone()));
        Ok(Some(self.strengthen(destination, session).await?))
    }

    /// For `/device` (RFC 8628): the step that makes `session` strong enough when a role of
    /// its user demands a second factor, or `None` when it is, as for any client.
    pub async fn device_strength(
        &self,
        session: &Session,
        user_code: Option<String>,
    ) -> Result<Option<Step>, StoreError> {
        if is_multi_factor(&session.amr)
            || !self
                .cache
                .user_requires_mfa(self.store, &session.user_id)
                .await?
        {
            return Ok(None);
        }
        let destination = Destination::Device(user_code);
        Ok(Some(self.strengthen(destination, session).await?))
    }

    /// The second factor for `session` when its user has one, else enrolment, then on to
    /// `destination`.
    async fn strengthen(
        &self,
        destination: Destination,
        session: &Session,
    ) -> Result<Step, StoreError> {
        let transaction =
            LoginTransaction::start(destination, self.now, self.settings.sessions.login_ttl_secs);
        let factors = self.store.second_factors(&session.user_id).await?;
        Ok(if factors.any() {
            Step::SecondFactor(
                transaction.to_second_factor(&session.user_id, session.user_generation),
            )
        } else {
            Step::Enrol(transaction.to_enrol(&session.handle))
        })
    }

    /// The scope to grant: as asked (or all allowed), within the user's roles and the client's
    /// registration; `Err` names what the user may not hold.
    async fn scope_for(
        &self,
        request: &AuthorizationRequest,
        client: &Client,
        user_id: &str,
    ) -> Result<Result<ScopeSet, ScopeSet>, StoreError> {
        let allowed = grantable_to_user(self.cache.user_scopes(self.store, user_id).await?)
            .intersection(&client.scopes);
        Ok(match &request.scope {
            None => Ok(allowed),
            Some(asked) if asked.is_subset(&allowed) => Ok(asked.clone()),
            Some(asked) => Err(asked.difference(&allowed)),
        })
    }

    async fn client_of(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        let Ok(client_id) = ClientId::parse(&request.client_id) else {
            return Ok(None);
        };
        let client = self.cache.client(self.store, &client_id).await?;
        // Registered again since the request was checked: its redirect URIs may differ.
        Ok(client.filter(|c| c.registration == request.client_registration))
    }

    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        client: &Client,
        session: &Session,
        scope: &ScopeSet,
    ) -> Result<Step, StoreError> {
        let content = AuthorizationCode {
            code_hash: String::new(),
            client_id: request.client_id.clone(),
            client_registration: request.client_registration.clone(),
            redirect_uri: request.redirect_uri.clone(),
            delivered_to: request.deliver_to.uri().to_owned(),
            code_challenge: request.code_challenge.clone(),
            scope: scope.to_string(),
            user_id: session.user_id.clone(),
            user_generation: session.user_generation,
            session_handle: session.handle.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            nonce: request.nonce.clone(),
            expires_at: self.now + self.settings.oauth.code_ttl_secs as i64,
            redeemed_at: None,
            tell_on_logout: client.browser.backchannel_logout_uri.is_some(),
            needs_consent: !client.browser.skip_consent,
            random: generate_secret(),
            resources: request.resources.join(" "),
            dpop_jkt: request.dpop_jkt.clone(),
        };
        // The code carries all of this, sealed: issuing it writes nothing.
        let Some(code) = seal_code(self.keys, &content) else {
            return Ok(self.refuse(
                request,
                ErrorCode::ServerError,
                "the code could not be sealed",
            ));
        };
        Ok(Step::ToClient(request.deliver_to.code(&code, self.issuer)))
    }

    fn refuse(&self, request: &AuthorizationRequest, code: ErrorCode, description: &str) -> Step {
        Step::ToClient(request.deliver_to.error(code, description, self.issuer))
    }

    async fn record(&self, action: &'static str, user: &User, client: &Client, scope: &ScopeSet) {
        let event = AuditEvent::new(action)
            .actor(&user.username)
            .client(&client.client_id)
            .ip(self.ip.clone())
            .detail(format!("scope={scope}"));
        self.audit.record(event).await;
    }
}

/// What the pages call a client: its display name, or its client_id when it has none.
pub fn display_name(client: &Client) -> String {
    if client.browser.client_name.is_empty() {
        client.client_id.clone()
    } else {
        client.browser.client_name.clone()
    }
}
