//! The admin API under `/admin`: users (and their browser sessions, consents and passkeys), roles,
//! clients and resources, each route guarded by one scope.

mod audit;
mod clients;
mod resources;
mod roles;
mod user_mfa;
mod user_passkeys;
mod user_sessions;
mod users;
pub mod wire;

pub use user_mfa::describe_removed;

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::Caller;
use crate::config::Settings;
use crate::domain::Refusal;
use crate::error::ApiError;
use crate::required_scope;
use crate::routes::client_ip::client_ip;
use crate::store::StoreError;

required_scope!(
    /// Reading users.
    UsersRead, "users:read"
);
required_scope!(
    /// Creating, changing and deleting users.
    UsersWrite, "users:write"
);
required_scope!(
    /// Reading roles.
    RolesRead, "roles:read"
);
required_scope!(
    /// Changing roles.
    RolesWrite, "roles:write"
);
required_scope!(
    /// Reading clients.
    ClientsRead, "clients:read"
);
required_scope!(
    /// Registering, rotating and deleting clients.
    ClientsWrite, "clients:write"
);
required_scope!(
    /// Reading the audit trail.
    AuditRead, "audit:read"
);

/// Writes admin changes to the audit trail with who made them and from where.
pub struct ChangeRecorder {
    audit: web::Data<AuditLog>,
    ip: Option<String>,
}

impl ChangeRecorder {
    /// Records `action` on `subject` by `caller`, and logs it.
    pub async fn record(
        &self,
        caller: &Caller,
        action: &'static str,
        subject: &str,
        detail: Option<String>,
    ) {
        log::info!("{} {action} {subject}", caller.actor());
        let mut event = AuditEvent::new(action)
            .actor(caller.actor())
            .subject(subject)
            .client(&caller.claims.client_id)
            .ip(self.ip.clone());
        event.detail = detail;
        self.audit.record(event).await;
    }

    /// Passes `result` on, first auditing a refusal by the delegation rule as `admin.refused`
    /// with the refused `action` on `subject`.
    pub async fn unless_refused<T>(
        &self,
        caller: &Caller,
        action: &'static str,
        subject: &str,
        result: Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        if let Err(StoreError::Refused(refusal)) = &result {
            let detail = match refusal {
                Refusal::MissingScopes { missing, .. } => format!("{action} needs {missing}"),
                Refusal::LastFullAdmin => format!("{action} would remove the last full admin"),
            };
            self.record(caller, "admin.refused", subject, Some(detail))
                .await;
        }
        Ok(result?)
    }
}

impl FromRequest for ChangeRecorder {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let trust = request
            .app_data::<web::Data<Settings>>()
            .is_some_and(|s| s.security.trust_forwarded_for);
        ready(
            request
                .app_data::<web::Data<AuditLog>>()
                .cloned()
                .map(|audit| ChangeRecorder {
                    audit,
                    ip: client_ip(request, trust),
                })
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("audit log is not configured"))),
        )
    }
}

/// Mounts the admin routes (the caller wraps them in the `/admin` scope).
pub fn configure(cfg: &mut ServiceConfig) {
    users::configure(cfg);
    user_sessions::configure(cfg);
    user_passkeys::configure(cfg);
    user_mfa::configure(cfg);
    roles::configure(cfg);
    clients::configure(cfg);
    resources::configure(cfg);
    audit::configure(cfg);
}
