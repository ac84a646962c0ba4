//! `/api/v1/projects`.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use crate::accounts::projects::{self, NewProject, ProjectPatch};
use crate::db::projects::ProjectRow;
use crate::domain::{HexColor, ProjectName};
use crate::error::ApiResult;
use crate::parse_fields;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    id: Uuid,
    name: String,
    color: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ProjectRow> for ProjectView {
    fn from(p: ProjectRow) -> Self {
        ProjectView {
            id: p.id,
            name: p.name,
            color: p.color,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ProjectBody {
    name: String,
    /// `#rrggbb`
    color: Option<String>,
}

fn optional<T>(
    v: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    v.map(parse).transpose()
}

/// Create a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", security(("bearer" = [])), request_body = ProjectBody,
    responses((status = 201, body = ProjectView), (status = 422, description = "Invalid fields")))]
#[post("")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ProjectBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    parse_fields!(
        name: "name" => ProjectName::parse(&b.name),
        color: "color" => optional(b.color.as_deref(), HexColor::parse),
    );
    let row = projects::create(
        &state,
        &caller.origin,
        &caller.principal,
        NewProject { name, color },
    )
    .await?;
    Ok(HttpResponse::Created().json(ProjectView::from(row)))
}

/// The caller's projects, newest first.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<ProjectView>)))]
#[get("")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<ProjectView>>> {
    let w = q.window()?;
    let paged = projects::list(&state, &caller.principal, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, ProjectView::from)))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    responses((status = 200, body = ProjectView), (status = 404, description = "Not found")))]
#[get("/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ProjectView>> {
    Ok(web::Json(
        projects::get(&state, &caller.principal, *id).await?.into(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ProjectPatchBody {
    name: Option<String>,
    /// `#rrggbb`, or null to clear.
    #[serde(default, deserialize_with = "crate::domain::strict::double_option")]
    #[schema(value_type = Option<String>)]
    color: Option<Option<String>>,
}

/// Change a project's name or colour.
#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", security(("bearer" = [])), request_body = ProjectPatchBody,
    responses((status = 200, body = ProjectView), (status = 404, description = "Not found"), (status = 422, description = "Invalid fields")))]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ProjectPatchBody>,
) -> ApiResult<web::Json<ProjectView>> {
    let b = body.0;
    parse_fields!(
        name: "name" => optional(b.name.as_deref(), ProjectName::parse),
        color: "color" => b.color.map(|c| optional(c.as_deref(), HexColor::parse)).transpose(),
    );
    let row = projects::update(
        &state,
        &caller.origin,
        &caller.principal,
        *id,
        ProjectPatch { name, color },
    )
    .await?;
    Ok(web::Json(row.into()))
}

/// Delete a project; its codes are kept, outside any project.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Not found")))]
#[delete("/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    projects::delete(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/projects")
            .service(create)
            .service(list)
            .service(get_one)
            .service(update)
            .service(remove),
    );
}
