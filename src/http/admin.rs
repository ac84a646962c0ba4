//! `/api/v1/admin/users`.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{AdminCaller, ListResponse, PageQuery};
use super::json::Json;
use super::views::UserView;
use crate::admin::{self, UserPatch};
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
}

/// Change a user's role or suspend/unsuspend them.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])), request_body = UserPatchBody,
    responses((status = 200, body = UserView), (status = 404, description = "No such user"), (status = 409, description = "Cannot demote or suspend yourself")))]
#[patch("/admin/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<Uuid>,
    body: Json<UserPatchBody>,
) -> ApiResult<web::Json<UserView>> {
    let c = admin.0;
    let patch = UserPatch {
        role: body.0.role,
        suspended: body.0.suspended,
    };
    let user = admin::update_user(&state, &c.origin, &c.principal, *id, patch).await?;
    Ok(web::Json(user.into()))
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
    admin::block_code(&state, &c.origin, &c.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_users)
        .service(update_user)
        .service(block_code);
}
