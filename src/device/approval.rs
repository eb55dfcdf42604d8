//! What `/device` does with a user code: shows which client asks for which scopes, and records
//! the signed-in person's decision. The decision is always asked for: a session alone, or a
//! consent given to the client before, never approves a device.

use std::sync::Arc;

use super::UserCode;
use crate::audit::{AuditEvent, AuditLog};
use crate::config::Settings;
use crate::credential_cache::CredentialCache;
use crate::domain::{ClientId, ScopeSet};
use crate::openid::grantable_to_user;
use crate::signin::flow::display_name;
use crate::store::{Client, DeviceCode, DeviceDecision, Session, Store, StoreError, User};

/// The page for a code that matches nothing pending.
pub const UNKNOWN_CODE: &str = "This code is not valid, has expired or was already used. \
     Check the code your device shows, or start again there.";

/// What `/device` needs, borrowed for one request.
pub struct DeviceApproval<'a> {
    /// Storage.
    pub store: &'a Store,
    /// Cached clients and role scopes.
    pub cache: &'a CredentialCache,
    /// Settings.
    pub settings: &'a Settings,
    /// Audit trail.
    pub audit: &'a AuditLog,
    /// The browser's address.
    pub ip: Option<String>,
    /// Now, from the application's clock.
    pub now: i64,
}

/// What the confirmation page shows.
#[derive(Debug)]
pub struct DeviceRequest {
    /// The client's display name.
    pub client_name: String,
    /// The client_id.
    pub client_id: String,
    /// Each scope the approval would grant, with its description where one is configured.
    pub scopes: Vec<(String, Option<String>)>,
}

/// A pending code with its client, the person, and what they would grant.
struct Pending {
    client: Arc<Client>,
    user: User,
    granted: ScopeSet,
}

impl DeviceApproval<'_> {
    /// Whether `code` is pending: the lookup that the guess throttle counts.
    pub async fn is_pending(&self, code: &UserCode) -> Result<bool, StoreError> {
        Ok(self
            .store
            .find_pending_device_code(&code.hash(), self.now)
            .await?
            .is_some())
    }

    /// What approving `code` in `session` would grant, or the message of an error page.
    pub async fn request(
        &self,
        code: &UserCode,
        session: &Session,
    ) -> Result<Result<DeviceRequest, String>, StoreError> {
        let pending = match self.pending(code, session).await? {
            Ok(pending) => pending,
            Err(message) => return Ok(Err(message)),
        };
        let descriptions = &self.settings.pages.scope_descriptions;
        Ok(Ok(DeviceRequest {
            client_name: display_name(&pending.client),
            client_id: pending.client.client_id.clone(),
            scopes: pending
                .granted
                .iter()
                .map(|s| (s.as_str().to_owned(), descriptions.get(s.as_str()).cloned()))
                .collect(),
        }))
    }

    /// Records the decision on `code` by `session`'s user: `Ok(Ok(()))` when it was recorded
    /// now, `Ok(Err(message))` when the code is not pending any more (of two concurrent
    /// decisions, one wins; the other gets this).
    pub async fn decide(
        &self,
        code: &UserCode,
        session: &Session,
        allow: bool,
    ) -> Result<Result<(), String>, StoreError> {
        let pending = match self.pending(code, session).await? {
            Ok(pending) => pending,
            Err(message) => return Ok(Err(message)),
        };
        let granted = pending.granted.to_string();
        let decision = if allow {
            DeviceDecision::Approve {
                user_id: &session.user_id,
                user_generation: session.user_generation,
                granted_scope: &granted,
                auth_time: session.auth_time,
                amr: &session.amr,
            }
        } else {
            DeviceDecision::Deny {
                user_id: &session.user_id,
            }
        };
        if !self
            .store
            .decide_device_code(&code.hash(), &decision, self.now)
            .await?
        {
            return Ok(Err(UNKNOWN_CODE.to_owned()));
        }
        let action = if allow {
            "device.approved"
        } else {
            "device.denied"
        };
        let event = AuditEvent::new(action)
            .actor(&pending.user.username)
            .client(&pending.client.client_id)
            .ip(self.ip.clone())
            .detail(format!("scope={granted}"));
        self.audit.record(event).await;
        Ok(Ok(()))
    }

    async fn pending(
        &self,
        code: &UserCode,
        session: &Session,
    ) -> Result<Result<Pending, String>, StoreError> {
        let Some(found) = self
            .store
            .find_pending_device_code(&code.hash(), self.now)
            .await?
        else {
            return Ok(Err(UNKNOWN_CODE.to_owned()));
        };
        let Some(client) = self.client_of(&found).await? else {
            return Ok(Err("The application is no longer registered.".into()));
        };
        let user = match self.store.find_user_by_id(&session.user_id).await? {
            Some(user) if !user.disabled => user,
            _ => return Ok(Err("Your account is no longer available.".into())),
        };
        let allowed = grantable_to_user(self.cache.user_scopes(self.store, &user.id).await?)
            .intersection(&client.scopes);
        let asked = match found.scope.as_deref().map(ScopeSet::parse).transpose() {
            Ok(asked) => asked,
            Err(error) => {
                return Err(StoreError::Other(anyhow::anyhow!(
                    "stored device code scope: {error}"
                )));
            }
        };
        let granted = match asked {
            None => allowed,
            Some(asked) if asked.is_subset(&allowed) => asked,
            Some(_) => {
                return Ok(Err(
                    "The application asks for more than you may grant.".into()
                ));
            }
        };
        Ok(Ok(Pending {
            client,
            user,
            granted,
        }))
    }

    async fn client_of(&self, code: &DeviceCode) -> Result<Option<Arc<Client>>, StoreError> {
        let Ok(client_id) = ClientId::parse(&code.client_id) else {
            return Ok(None);
        };
        let client = self.cache.client(self.store, &client_id).await?;
        // Registered again since the code was issued: the new registration asked for nothing.
        Ok(client.filter(|c| c.registration == code.client_registration))
    }
}
