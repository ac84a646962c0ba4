//! `/api/v1/audit-logs` (the caller's) and `/api/v1/admin/audit-logs` (everyone's).

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{AdminCaller, Caller, ListResponse, PageQuery};
use crate::accounts::audit;
use crate::db::audit::{AuditFilter, AuditRow};
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    id: Uuid,
    actor_user_id: Option<Uuid>,
    api_key_id: Option<Uuid>,
    action: String,
    entity_type: String,
    entity_id: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    after: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditView {
    fn from(a: AuditRow) -> Self {
        AuditView {
            id: a.id,
            actor_user_id: a.actor_user_id,
            api_key_id: a.api_key_id,
            action: a.action,
            entity_type: a.entity_type,
            entity_id: a.entity_id,
            ip: a.ip,
            request_id: a.request_id,
            before: a.before,
            after: a.after,
            created_at: a.created_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// e.g. `project.create`
    action: Option<String>,
    /// e.g. `project`
    entity_type: Option<String>,
    /// Admin listing only: one actor's entries.
    user_id: Option<Uuid>,
}

async fn listing(
    state: &AppState,
    actor: Option<Uuid>,
    q: &AuditQuery,
    page: &PageQuery,
) -> ApiResult<web::Json<ListResponse<AuditView>>> {
    let w = page.window()?;
    let filter = AuditFilter {
        actor,
        action: q.action.as_deref(),
        entity_type: q.entity_type.as_deref(),
    };
    let paged = audit::list(&state.db, &filter, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, AuditView::from)))
}

/// The caller's own activity, newest first.
#[utoipa::path(get, path = "/api/v1/audit-logs", tag = "accounts", security(("bearer" = [])), params(AuditQuery, PageQuery),
    responses((status = 200, body = ListResponse<AuditView>)))]
#[get("/audit-logs")]
pub async fn mine(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<AuditQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<AuditView>>> {
    listing(&state, Some(caller.principal.user.id), &q, &page).await
}

/// Everyone's activity (admins).
#[utoipa::path(get, path = "/api/v1/admin/audit-logs", tag = "admin", security(("bearer" = [])), params(AuditQuery, PageQuery),
    responses((status = 200, body = ListResponse<AuditView>), (status = 403, description = "Not an admin")))]
#[get("/admin/audit-logs")]
pub async fn all(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    q: web::Query<AuditQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<AuditView>>> {
    listing(&state, q.user_id, &q, &page).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(mine).service(all);
}
