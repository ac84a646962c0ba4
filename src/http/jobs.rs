//! `/api/v1/exports`, `/api/v1/jobs/{id}` and the admins' `/api/v1/admin/jobs`.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{AdminCaller, Caller, ListResponse, PageQuery};
use super::json::Json;
use crate::batch::bulk;
use crate::batch::exports::{self, ExportParams};
use crate::batch::tasks;
use crate::db::jobs::JobRow;
use crate::error::{ApiError, ApiResult};
use crate::render::Format;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Progress {
    done: i32,
    total: i32,
}

#[derive(Serialize, ToSchema)]
pub struct JobView {
    id: Uuid,
    /// `export`, `bulk_create` or `account_export`.
    kind: String,
    /// queued, running, succeeded, failed or cancelled.
    status: String,
    progress: Progress,
    /// Where the result is (an export's ZIP), once succeeded and until it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    result_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    attempts: i32,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
}

impl From<JobRow> for JobView {
    fn from(j: JobRow) -> Self {
        let downloadable = j.kind == "export" || j.kind == crate::accounts::export::KIND;
        let result_url = (downloadable && j.status == "succeeded" && j.file_key.is_some())
            .then(|| format!("/api/v1/exports/{}/download", j.id));
        JobView {
            id: j.id,
            kind: j.kind,
            status: j.status,
            progress: Progress {
                done: j.progress_done,
                total: j.progress_total,
            },
            result_url,
            result: j.result,
            error: j.error,
            attempts: j.attempts,
            created_at: j.created_at,
            finished_at: j.finished_at,
            expires_at: j.expires_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Follow it at `/api/v1/jobs/{job_id}`.
    pub(super) job_id: Uuid,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// The codes to export (up to 10,000) …
    qr_ids: Option<Vec<Uuid>>,
    /// … or every code of a project.
    project_id: Option<Uuid>,
    format: Format,
    /// Pixels (PNG) or nominal size (SVG/PDF), 128–4096; default 512.
    size: Option<u32>,
}

/// Export codes as a ZIP (one image per code + manifest.csv), built in the background.
#[utoipa::path(post, path = "/api/v1/exports", tag = "jobs", security(("bearer" = [])), request_body = ExportBody,
    responses((status = 202, body = Accepted), (status = 422, description = "Invalid fields"), (status = 503, description = "Queue unavailable")))]
#[post("/exports")]
pub async fn create_export(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ExportBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    let size = b.size.unwrap_or(512);
    if !(128..=4096).contains(&size) {
        return Err(ApiError::field("size", "must be 128 to 4096"));
    }
    let params = ExportParams {
        qr_ids: b.qr_ids,
        project_id: b.project_id,
        format: b.format,
        size,
    };
    let job = exports::create(&state, &caller.origin, &caller.principal, params).await?;
    Ok(HttpResponse::Accepted().json(Accepted { job_id: job.id }))
}

/// The export's ZIP (owner only).
#[utoipa::path(get, path = "/api/v1/exports/{id}/download", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, content_type = "application/zip", description = "The ZIP"), (status = 404, description = "No such export"),
    (status = 409, description = "Not finished"), (status = 410, description = "Expired")))]
#[get("/exports/{id}/download")]
pub async fn download_export(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let stream = exports::download(&state, &caller.principal, *id).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"qr-export-{id}.zip\""),
        ))
        .insert_header(("Cache-Control", "private, no-store"))
        .streaming(stream))
}

/// A job's status and progress (its owner, or an admin).
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, body = JobView), (status = 404, description = "No such job")))]
#[get("/jobs/{id}")]
pub async fn get_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<JobView>> {
    Ok(web::Json(
        tasks::job(&state, &caller.principal, *id).await?.into(),
    ))
}

/// Cancel a queued or running job.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, body = JobView), (status = 404, description = "No such job"), (status = 409, description = "Already finished")))]
#[post("/jobs/{id}/cancel")]
pub async fn cancel_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<JobView>> {
    let job = tasks::cancel(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(web::Json(job.into()))
}

#[derive(Deserialize, IntoParams)]
pub struct JobQuery {
    /// queued, running, succeeded, failed (dead: retries spent) or cancelled.
    status: Option<String>,
}

/// Admins: all jobs, newest first.
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin", security(("bearer" = [])), params(JobQuery, PageQuery),
    responses((status = 200, body = ListResponse<JobView>), (status = 403, description = "Not an admin")))]
#[get("/admin/jobs")]
pub async fn list_jobs(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    q: web::Query<JobQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<JobView>>> {
    let w = page.window()?;
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let paged = tasks::list(&state, status, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, JobView::from)))
}

/// Admins: run a failed (dead) or cancelled job again.
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = JobView), (status = 404, description = "No such job"), (status = 409, description = "Not failed or cancelled")))]
#[post("/admin/jobs/{id}/retry")]
pub async fn retry_job(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<JobView>> {
    let c = admin.0;
    let job = tasks::retry(&state, &c.origin, &c.principal, *id).await?;
    Ok(web::Json(job.into()))
}

/// Create up to 10,000 codes from a CSV file (`text/csv`, header row: name, qr_type, dynamic,
/// target_url, project or project_id, alias, then the type's fields) or a JSON array of create
/// requests. The job reports per row: the code's id, or its field errors.
#[utoipa::path(post, path = "/api/v1/qr-codes/bulk", tag = "jobs", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv", description = "CSV with a header row, or a JSON array (application/json)"),
    responses((status = 202, body = Accepted), (status = 400, description = "Not CSV/JSON"), (status = 413, description = "Over 8 MiB"),
    (status = 415, description = "Neither text/csv nor application/json"), (status = 422, description = "No rows or too many")))]
#[post("/bulk")] // inside the /qr-codes scope (see `codes::configure`)
pub async fn bulk_create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    mut payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let mime = super::json::media_type(&req);
    let is_csv = mime == "text/csv";
    if !is_csv && mime != "application/json" {
        return Err(ApiError::UnsupportedMediaType(
            "text/csv or application/json",
        ));
    }
    let body = super::json::read_limited(&mut payload, bulk::MAX_BYTES).await?;
    let rows = bulk::rows(if is_csv {
        bulk::Upload::Csv(&body)
    } else {
        bulk::Upload::Json(&body)
    })?;
    let job = bulk::create(&state, &caller.origin, &caller.principal, rows).await?;
    Ok(HttpResponse::Accepted().json(Accepted { job_id: job.id }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// Whose links these are.
    source: crate::batch::imports::Source,
    /// The tool's CSV export of its links (Shlink: shortCode/shortUrl, longUrl, title, tags;
    /// YOURLS: keyword, url, title; Bitly: Bitlink/Custom Bitlink, Long URL, Title, Tags).
    csv: Option<String>,
    /// Shlink only, instead of `csv`: read the links from the server's REST API.
    api: Option<ShlinkApi>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShlinkApi {
    /// The Shlink server, e.g. `https://s.example.com`.
    base_url: String,
    /// An API key of that server (used for this request only, never stored).
    api_key: String,
}

/// Import the links of a Shlink, YOURLS or Bitly account from its CSV export, as dynamic URL
/// codes: short codes kept when free, first tag → project, a report per row in the job's
/// result; importing again skips the links already here.
#[utoipa::path(post, path = "/api/v1/imports", tag = "jobs", security(("bearer" = [])), request_body = ImportBody,
    responses((status = 202, body = Accepted), (status = 413, description = "Over 8 MiB"), (status = 415, description = "Not JSON"),
    (status = 422, description = "Not an export of that tool, a row without a short code or URL, or a Shlink server that cannot be read")))]
#[post("/imports")]
pub async fn create_import(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    mut payload: web::Payload,
) -> ApiResult<HttpResponse> {
    // A JSON body like any other, but with the bulk upload's size limit (an export is large).
    if super::json::media_type(&req) != "application/json" {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    let body = super::json::read_limited(&mut payload, bulk::MAX_BYTES).await?;
    let b: ImportBody = super::json::parse(&body)?;
    use crate::batch::imports::{self, Source};
    let links = match (&b.csv, &b.api, b.source) {
        (Some(csv), None, source) => imports::links(source, csv)?,
        (None, Some(api), Source::Shlink) => {
            imports::shlink_links(&state, &api.base_url, &api.api_key).await?
        }
        (None, Some(_), _) => {
            return Err(ApiError::field("api", "only Shlink has an API to read"));
        }
        _ => {
            return Err(ApiError::field(
                "csv",
                "give the export's csv, or (Shlink) api",
            ));
        }
    };
    let job = imports::create(&state, &caller.origin, &caller.principal, b.source, links).await?;
    Ok(HttpResponse::Accepted().json(Accepted { job_id: job.id }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_import)
        .service(create_export)
        .service(download_export)
        .service(get_job)
        .service(cancel_job)
        .service(list_jobs)
        .service(retry_job);
}
