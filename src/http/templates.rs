//! `/api/v1/templates` and the public landing pages at `/p/{url_id}`.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use crate::codes::templates;
use crate::db::templates::TemplateRow;
use crate::domain::ShortCode;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    id: Uuid,
    name: String,
    /// `frame` or `landing`
    category: Option<String>,
    image_url: String,
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
}

impl From<TemplateRow> for TemplateView {
    fn from(t: TemplateRow) -> Self {
        TemplateView {
            image_url: format!("/api/v1/templates/{}/preview", t.id),
            id: t.id,
            name: t.name,
            category: t.category,
            metadata: t.metadata.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct TemplateQuery {
    /// `frame` or `landing`
    category: Option<String>,
}

/// The templates library.
#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])), params(TemplateQuery, PageQuery),
    responses((status = 200, body = ListResponse<TemplateView>)))]
#[get("")]
pub async fn list(
    state: web::Data<AppState>,
    _caller: Caller,
    q: web::Query<TemplateQuery>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<TemplateView>>> {
    let window = paging.window()?;
    if q.category
        .as_deref()
        .is_some_and(|c| c != "frame" && c != "landing")
    {
        return Err(ApiError::field("category", "must be frame or landing"));
    }
    let items: Vec<TemplateView> = templates::list(&state, q.category.as_deref())
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(web::Json(ListResponse::slice(items, window)))
}

/// A preview image of a template (SVG).
#[utoipa::path(get, path = "/api/v1/templates/{id}/preview", tag = "templates", security(("bearer" = [])),
    responses((status = 200, content_type = "image/svg+xml", description = "Preview"), (status = 404, description = "Not found")))]
#[get("/{id}/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let t = templates::get(&state, *id).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(templates::preview_svg(&t)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FillBody {
    /// Values for the template's fields (see its `metadata.fields`).
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct Filled {
    url_id: String,
    /// The public page.
    url: String,
    created_at: DateTime<Utc>,
}

/// Fill a landing-page template; the page is published at `/p/{url_id}`.
#[utoipa::path(post, path = "/api/v1/templates/{id}/data", tag = "templates", security(("bearer" = [])), request_body = FillBody,
    responses((status = 201, body = Filled), (status = 404, description = "No such template"), (status = 422, description = "Invalid fields")))]
#[post("/{id}/data")]
pub async fn fill(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<FillBody>,
) -> ApiResult<HttpResponse> {
    let row = templates::fill(&state, &caller.origin, &caller.principal, *id, &body.0.data).await?;
    let url_id = row.url_id.unwrap_or_default();
    Ok(HttpResponse::Created().json(Filled {
        url: state.settings.public_url(&format!("/p/{url_id}")),
        url_id,
        created_at: row.created_at,
    }))
}

/// A published landing page.
#[utoipa::path(get, path = "/p/{url_id}", tag = "public", responses(
    (status = 200, content_type = "text/html", description = "The page"), (status = 404, description = "No such page")))]
#[get("/p/{url_id}")]
pub async fn page(
    state: web::Data<AppState>,
    url_id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = ShortCode::from_path(&url_id).ok_or(ApiError::NotFound)?;
    let html = templates::page(&state, id.as_str()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(html))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/templates")
            .service(list)
            .service(preview)
            .service(fill),
    );
}
