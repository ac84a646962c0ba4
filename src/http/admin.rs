//! `/api/v1/admin/users`.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::billing::{SubscriptionView, subscription_view};
use super::extract::{AdminCaller, ListResponse, PageQuery};
use super::json::Json;
use super::views::UserView;
use crate::accounts::admin::{self, UserPatch};
use crate::domain::Role;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct UserQuery {
    /// Matches e-mail or name.
    q: Option<String>,
}

/// Search users.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(UserQuery, PageQuery),
    responses((status = 200, body = ListResponse<UserView>), (status = 403, description = "Not an admin")))]
#[get("/admin/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    q: web::Query<UserQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<UserView>>> {
    let w = page.window()?;
    let q = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let paged = admin::list_users(&state, q, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, UserView::from)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    role: Option<Role>,
    suspended: Option<bool>,
    /// A plan of the catalogue, set without Stripe (`null`: back to the default plan). A live
    /// Stripe subscription takes precedence while it lasts.
    #[serde(default, deserialize_with = "crate::domain::strict::double_option")]
    #[schema(value_type = Option<String>)]
    plan_id: Option<Option<String>>,
}

/// A user with their plan, limits and use (admins' view).
#[derive(Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    user: UserView,
    billing: SubscriptionView,
}

async fn detail(state: &AppState, user: crate::db::users::UserRow) -> ApiResult<UserDetail> {
    let o = crate::billing::overview(state, user.id).await?;
    Ok(UserDetail {
        user: user.into(),
        billing: subscription_view(o),
    })
}

/// One user, with plan, subscription, limits, use and credits.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UserDetail), (status = 404, description = "No such user"), (status = 403, description = "Not an admin")))]
#[get("/admin/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<UserDetail>> {
    let user = admin::user(&state, *id).await?;
    Ok(web::Json(detail(&state, user).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// Credits to add (1–1,000,000).
    amount: u32,
    /// Shown in the user's ledger and the audit trail.
    reason: String,
    /// When what is left of them expires; never when absent.
    expires_at: Option<DateTime<Utc>>,
}

/// Grant credits to a user.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/credits", tag = "admin", security(("bearer" = [])), request_body = GrantBody,
    responses((status = 201, body = crate::http::billing::CreditEntry), (status = 404, description = "No such user"), (status = 422, description = "Bad amount or reason")))]
#[post("/admin/users/{id}/credits")]
pub async fn grant_credits(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<Uuid>,
    body: Json<GrantBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    let mut errors = crate::error::FieldErrors::new();
    if !(1..=1_000_000).contains(&b.amount) {
        errors.insert("amount".into(), "must be between 1 and 1000000".into());
    }
    let reason = b.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        errors.insert("reason".into(), "must be 1 to 200 characters".into());
    }
    if b.expires_at.is_some_and(|t| t <= Utc::now()) {
        errors.insert("expires_at".into(), "must be in the future".into());
    }
    if !errors.is_empty() {
        return Err(crate::error::ApiError::Validation(errors));
    }
    let c = admin.0;
    let row = admin::grant_credits(
        &state,
        &c.origin,
        &c.principal,
        *id,
        b.amount,
        reason,
        b.expires_at,
    )
    .await?;
    Ok(HttpResponse::Created().json(crate::http::billing::CreditEntry::from(row)))
}

/// Change a user's role, suspend/unsuspend them, or set their plan.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])), request_body = UserPatchBody,
    responses((status = 200, body = UserDetail), (status = 422, description = "Unknown plan"), (status = 404, description = "No such user"), (status = 409, description = "Cannot demote or suspend yourself")))]
#[patch("/admin/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<Uuid>,
    body: Json<UserPatchBody>,
) -> ApiResult<web::Json<UserDetail>> {
    let c = admin.0;
    let b = body.0;
    let patch = UserPatch {
        role: b.role,
        suspended: b.suspended,
        plan_id: b.plan_id,
    };
    let user = admin::update_user(&state, &c.origin, &c.principal, *id, patch).await?;
    Ok(web::Json(detail(&state, user).await?))
}

/// Block a code: its scans answer 410 and its owner can no longer change it.
#[utoipa::path(post, path = "/api/v1/admin/qr-codes/{id}/block", tag = "admin", security(("bearer" = [])),
    responses((status = 204, description = "Blocked"), (status = 404, description = "No such code"), (status = 403, description = "Not an admin")))]
#[post("/admin/qr-codes/{id}/block")]
pub async fn block_code(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let c = admin.0;
    admin::set_code_blocked(&state, &c.origin, &c.principal, *id, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lift a block: the code serves again as it was.
#[utoipa::path(post, path = "/api/v1/admin/qr-codes/{id}/unblock", tag = "admin", security(("bearer" = [])),
    responses((status = 204, description = "Unblocked"), (status = 404, description = "No such code"),
    (status = 409, description = "Not blocked"), (status = 403, description = "Not an admin")))]
#[post("/admin/qr-codes/{id}/unblock")]
pub async fn unblock_code(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let c = admin.0;
    admin::set_code_blocked(&state, &c.origin, &c.principal, *id, false).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The platform at a glance: accounts, revenue, codes, scans, queues.
#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = admin::Stats), (status = 403, description = "Not an admin")))]
#[get("/admin/stats")]
pub async fn stats(
    state: web::Data<AppState>,
    _admin: AdminCaller,
) -> ApiResult<web::Json<admin::Stats>> {
    Ok(web::Json(admin::stats(&state).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct CodeSearch {
    /// Part of a code's name, short code or target host.
    q: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminCodeView {
    id: Uuid,
    owner_id: Option<Uuid>,
    owner_email: Option<String>,
    name: Option<String>,
    qr_type: String,
    short_code: String,
    target_url: Option<String>,
    status: String,
    scans_total: i64,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// Every tenant's codes, searched by name, short code or target host.
#[utoipa::path(get, path = "/api/v1/admin/qr-codes", tag = "admin", security(("bearer" = [])), params(CodeSearch, PageQuery),
    responses((status = 200, body = ListResponse<AdminCodeView>), (status = 403, description = "Not an admin")))]
#[get("/admin/qr-codes")]
pub async fn search_codes(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    q: web::Query<CodeSearch>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<AdminCodeView>>> {
    let w = page.window()?;
    let q = q.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let paged = admin::search_codes(&state, q, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, |c| AdminCodeView {
        id: c.id,
        owner_id: c.user_id,
        owner_email: c.owner_email,
        name: c.name,
        qr_type: c.qr_type,
        short_code: c.short_code,
        target_url: c.target_url,
        status: c.status,
        scans_total: c.scans_total,
        created_at: c.created_at,
    })))
}

#[derive(Serialize, ToSchema)]
pub struct BlockView {
    id: Uuid,
    /// A host (blocks it and its subdomains) or a pattern with `*` over the whole host.
    pattern: String,
    reason: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<crate::db::abuse::BlockRow> for BlockView {
    fn from(r: crate::db::abuse::BlockRow) -> Self {
        BlockView {
            id: r.id,
            pattern: r.pattern,
            reason: r.reason,
            created_at: r.created_at,
        }
    }
}

/// The destination blocklist entries added through the API (the configured file's are not
/// listed; they are fixed at start-up).
#[utoipa::path(get, path = "/api/v1/admin/blocklist", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<BlockView>), (status = 403, description = "Not an admin")))]
#[get("/admin/blocklist")]
pub async fn blocklist(
    state: web::Data<AppState>,
    _admin: AdminCaller,
) -> ApiResult<web::Json<Vec<BlockView>>> {
    let rows = crate::db::abuse::list(&state.db).await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct BlockBody {
    pattern: String,
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BlockAdded {
    entry: BlockView,
    /// Live codes whose target the entry caught, now blocked.
    codes_blocked: usize,
}

/// Block a destination: new targets matching it are refused (422), and live codes pointing
/// there are blocked now.
#[utoipa::path(post, path = "/api/v1/admin/blocklist", tag = "admin", security(("bearer" = [])), request_body = BlockBody,
    responses((status = 201, body = BlockAdded), (status = 409, description = "Already on the list"),
    (status = 422, description = "Not a host or pattern"), (status = 403, description = "Not an admin")))]
#[post("/admin/blocklist")]
pub async fn add_block(
    state: web::Data<AppState>,
    admin: AdminCaller,
    body: Json<BlockBody>,
) -> ApiResult<HttpResponse> {
    let c = admin.0;
    let b = body.0;
    let pattern = crate::abuse::blocklist::parse_pattern(&b.pattern)
        .map_err(|e| crate::error::ApiError::field("pattern", e))?;
    let reason = b.reason.filter(|r| !r.trim().is_empty());
    let (row, n) =
        crate::abuse::blocklist::add(&state, &c.origin, &c.principal, pattern, reason).await?;
    Ok(HttpResponse::Created().json(BlockAdded {
        entry: row.into(),
        codes_blocked: n,
    }))
}

/// Remove a blocklist entry (codes it blocked stay blocked until unblocked one by one).
#[utoipa::path(delete, path = "/api/v1/admin/blocklist/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such entry"), (status = 403, description = "Not an admin")))]
#[delete("/admin/blocklist/{id}")]
pub async fn remove_block(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let c = admin.0;
    crate::abuse::blocklist::remove(&state, &c.origin, &c.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// `open` or `resolved`; all when absent.
    status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportView {
    id: Uuid,
    qr_id: Uuid,
    short_code: String,
    target_url: Option<String>,
    /// The code's status now (block it with `POST /api/v1/admin/qr-codes/{id}/block`).
    code_status: String,
    reason: String,
    details: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
}

/// Abuse reports from landing pages ("Report this code"), newest first.
#[utoipa::path(get, path = "/api/v1/admin/reports", tag = "admin", security(("bearer" = [])), params(ReportQuery, PageQuery),
    responses((status = 200, body = ListResponse<ReportView>), (status = 403, description = "Not an admin")))]
#[get("/admin/reports")]
pub async fn reports(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    q: web::Query<ReportQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<ReportView>>> {
    let w = page.window()?;
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    if status.is_some_and(|s| s != "open" && s != "resolved") {
        return Err(crate::error::ApiError::field(
            "status",
            "must be open or resolved",
        ));
    }
    let (items, total) = crate::db::abuse::reports(&state.db, status, w.limit, w.offset).await?;
    let paged = crate::db::Paged { items, total };
    Ok(web::Json(ListResponse::new(paged, w, |r| ReportView {
        id: r.id,
        qr_id: r.qr_id,
        short_code: r.short_code,
        target_url: r.target_url,
        code_status: r.code_status,
        reason: r.reason,
        details: r.details,
        status: r.status,
        created_at: r.created_at,
    })))
}

/// Close an abuse report.
#[utoipa::path(post, path = "/api/v1/admin/reports/{id}/resolve", tag = "admin", security(("bearer" = [])),
    responses((status = 204, description = "Resolved"), (status = 404, description = "No such report"), (status = 403, description = "Not an admin")))]
#[post("/admin/reports/{id}/resolve")]
pub async fn resolve_report(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let c = admin.0;
    crate::abuse::reports::resolve(&state, &c.origin, &c.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_users)
        .service(get_user)
        .service(update_user)
        .service(grant_credits)
        .service(block_code)
        .service(unblock_code)
        .service(stats)
        .service(search_codes)
        .service(blocklist)
        .service(add_block)
        .service(remove_block)
        .service(reports)
        .service(resolve_report);
}
