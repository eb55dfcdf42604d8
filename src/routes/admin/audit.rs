//! `/admin/audit`: the audit trail, newest first.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::AuditRead;
use super::wire::{ErrorResponse, PageResponse};
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::store::{AuditRecord, PageRequest, Store};

/// Mounts the audit route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_audit_events);
}

/// Filters and paging of `GET /admin/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only events of this action, e.g. `login.failed`.
    #[serde(default, deserialize_with = "super::wire::printable")]
    #[param(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub action: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    /// Unique id.
    pub id: String,
    /// RFC 3339 with milliseconds.
    pub at: String,
    /// Dotted verb.
    pub action: String,
    /// Who did it.
    pub actor: Option<String>,
    /// What it was done to.
    pub subject: Option<String>,
    /// Through which client.
    pub client_id: Option<String>,
    /// From which address.
    pub ip: Option<String>,
    /// Detail.
    pub detail: Option<String>,
    /// How many identical events this row stands for: 1 unless coalesced. Only client_credentials
    /// issuance (`token.issued`) is coalesced: one client's tokens from one address with one scope
    /// within the same second may share a row, which has the first one's id and time.
    #[schema(minimum = 1)]
    pub occurrences: i64,
}

impl From<AuditRecord> for AuditEventResponse {
    fn from(record: AuditRecord) -> Self {
        let at = chrono::DateTime::from_timestamp_millis(record.at_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        Self {
            id: record.id,
            at,
            action: record.action,
            actor: record.actor,
            subject: record.subject,
            client_id: record.client_id,
            ip: record.ip,
            detail: record.detail,
            occurrences: record.occurrences,
        }
    }
}

/// Lists audit events, newest first.
#[utoipa::path(
    tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, body = PageResponse<AuditEventResponse>),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)
    ),
    security(("bearer" = ["audit:read"]))
)]
#[get("/audit")]
async fn list_audit_events(
    _: Authorized<AuditRead>,
    query: web::Query<AuditQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let page: PageRequest = super::wire::PageQuery {
        limit: query.limit,
        offset: query.offset,
    }
    .page()?;
    let found = store
        .list_audit_records(query.action.as_deref(), page)
        .await?;
    let items = found
        .items
        .into_iter()
        .map(AuditEventResponse::from)
        .collect();
    Ok(HttpResponse::Ok().json(PageResponse::new(items, found.total, page)))
}
