//! `/api/v1/qr-codes`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use crate::codes::{self, Code, CodeInput, Image, PatchBody};
use crate::db::qr_codes::QrFilter;
use crate::domain::{Design, QrType};
use crate::error::{ApiError, ApiResult};
use crate::render::{DEFAULT_SIZE, Format, MAX_SIZE, MIN_SIZE};
use crate::state::AppState;

/// The QR object of API.md, plus `payload`: exactly what the image encodes.
#[derive(Serialize, ToSchema)]
pub struct QrView {
    id: Uuid,
    name: Option<String>,
    qr_type: String,
    dynamic: bool,
    short_code: String,
    short_url: String,
    /// The custom domain `short_url` is on; null: this service's host.
    domain_id: Option<Uuid>,
    target_url: Option<String>,
    #[schema(value_type = Object)]
    data: serde_json::Value,
    design: Design,
    project_id: Option<Uuid>,
    template_id: Option<Uuid>,
    /// `active`, `paused` or `blocked`
    status: String,
    scans_total: i64,
    payload: String,
    #[schema(value_type = Vec<crate::domain::rules::Rule>)]
    rules: serde_json::Value,
    #[schema(value_type = crate::domain::utm::Utm)]
    utm: serde_json::Value,
    /// An A/B code's weighted targets (`target_url` is the first); absent for one target.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::domain::WeightedTarget>>)]
    targets: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn view(settings: &crate::config::Settings, c: Code) -> QrView {
    let r = c.row;
    QrView {
        short_url: codes::short_url(settings, r.domain_host.as_deref(), &r.short_code),
        design: codes::design(&r),
        id: r.id,
        name: r.name,
        qr_type: r.qr_type,
        dynamic: r.dynamic,
        short_code: r.short_code,
        domain_id: r.domain_id,
        target_url: r.target_url,
        data: r.type_data.unwrap_or_default(),
        project_id: r.project_id,
        template_id: r.template_id,
        status: r.status,
        scans_total: r.scans_total,
        payload: c.payload,
        rules: r.rules,
        utm: r.utm,
        targets: r.targets,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Create a QR code of any type.
#[utoipa::path(post, path = "/api/v1/qr-codes", tag = "qr-codes", security(("bearer" = [])), request_body = CodeInput,
    responses((status = 201, body = QrView), (status = 409, description = "Alias taken"), (status = 422, description = "Invalid fields")))]
#[post("")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CodeInput>,
) -> ApiResult<HttpResponse> {
    let own = codes::target_policy(&state);
    let new = codes::parse_input(body.0, &own).map_err(ApiError::Validation)?;
    let code = codes::create(&state, &caller.origin, &caller.principal, new).await?;
    Ok(HttpResponse::Created().json(view(&state.settings, code)))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    project_id: Option<Uuid>,
    qr_type: Option<QrType>,
    /// `active`, `paused` or `blocked`
    status: Option<String>,
    /// Matches the name.
    q: Option<String>,
}

/// The caller's codes, newest first.
#[utoipa::path(get, path = "/api/v1/qr-codes", tag = "qr-codes", security(("bearer" = [])), params(ListQuery, PageQuery),
    responses((status = 200, body = ListResponse<QrView>)))]
#[get("")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ListQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<QrView>>> {
    let w = page.window()?;
    if let Some(s) = &q.status
        && !["active", "paused", "blocked"].contains(&s.as_str())
    {
        return Err(ApiError::field(
            "status",
            "must be active, paused or blocked",
        ));
    }
    let filter = QrFilter {
        project_id: q.project_id,
        qr_type: q.qr_type.map(QrType::as_str),
        status: q.status.as_deref(),
        q: q.q
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    };
    let paged = codes::list(&state, &caller.principal, &filter, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, |c| {
        view(&state.settings, c)
    })))
}

/// One code.
#[utoipa::path(get, path = "/api/v1/qr-codes/{id}", tag = "qr-codes", security(("bearer" = [])),
    responses((status = 200, body = QrView), (status = 404, description = "Not found")))]
#[get("/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<QrView>> {
    Ok(web::Json(view(
        &state.settings,
        codes::get(&state, &caller.principal, *id).await?,
    )))
}

/// Change a code. For dynamic codes the printed image stays valid.
#[utoipa::path(patch, path = "/api/v1/qr-codes/{id}", tag = "qr-codes", security(("bearer" = [])), request_body = PatchBody,
    responses((status = 200, body = QrView), (status = 404, description = "Not found"), (status = 422, description = "Invalid fields")))]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<PatchBody>,
) -> ApiResult<web::Json<QrView>> {
    let current = codes::get(&state, &caller.principal, *id).await?;
    let own = codes::target_policy(&state);
    let patch = codes::parse_patch(&current.row, &body.0, &own).map_err(ApiError::Validation)?;
    let code = codes::update(&state, &caller.origin, &caller.principal, *id, patch).await?;
    Ok(web::Json(view(&state.settings, code)))
}

/// Who made a version: the account, and the API key when it went through one.
#[derive(Serialize, ToSchema)]
pub struct VersionActor {
    user_id: Option<Uuid>,
    api_key_id: Option<Uuid>,
    /// `api_key` or `session`
    via: &'static str,
}

/// One version of a code: what changed (`{field: {from, to}}` over target_url, rules, utm,
/// data and status; `restored_from` on a restore).
#[derive(Serialize, ToSchema)]
pub struct VersionView {
    version: i32,
    created_at: DateTime<Utc>,
    actor: VersionActor,
    #[schema(value_type = Object)]
    changes: serde_json::Value,
}

fn version_view(v: crate::db::versions::VersionRow) -> VersionView {
    VersionView {
        version: v.version,
        created_at: v.created_at,
        actor: VersionActor {
            user_id: v.actor_user_id,
            api_key_id: v.api_key_id,
            via: if v.api_key_id.is_some() {
                "api_key"
            } else {
                "session"
            },
        },
        changes: v.changes,
    }
}

/// The code's versions, newest first: every change of its target, rules, UTM, data or status.
#[utoipa::path(get, path = "/api/v1/qr-codes/{id}/versions", tag = "qr-codes", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<VersionView>), (status = 404, description = "Not found")))]
#[get("/{id}/versions")]
pub async fn versions(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<VersionView>>> {
    let w = page.window()?;
    let paged = codes::versions::list(&state, &caller.principal, *id, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, version_view)))
}

/// Make an earlier version current again (recorded as a new version). Each field is checked as
/// a change to it would be today.
#[utoipa::path(post, path = "/api/v1/qr-codes/{id}/versions/{version}/restore", tag = "qr-codes", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The code"), ("version" = i32, Path, minimum = 1, description = "The version to restore")),
    responses((status = 200, body = QrView), (status = 404, description = "No such code or version"),
        (status = 422, description = "The version's target or rules are no longer allowed")))]
#[post("/{id}/versions/{version}/restore")]
pub async fn restore_version(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, i32)>,
) -> ApiResult<web::Json<QrView>> {
    let (id, version) = path.into_inner();
    let code =
        codes::versions::restore(&state, &caller.origin, &caller.principal, id, version).await?;
    Ok(web::Json(view(&state.settings, code)))
}

/// A change of the code to apply at `at`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// When to apply it (RFC 3339; within three years).
    at: DateTime<Utc>,
    /// What to change: a PATCH body.
    #[schema(value_type = PatchBody)]
    changes: serde_json::Value,
}

/// A scheduled change.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    id: Uuid,
    at: DateTime<Utc>,
    /// `pending`, `applied`, `cancelled`, or `failed` (the change could no longer be made when
    /// it came due; `error` says why).
    status: String,
    #[schema(value_type = PatchBody)]
    changes: serde_json::Value,
    /// The version the change made, once applied.
    version: Option<i32>,
    error: Option<String>,
    created_at: DateTime<Utc>,
}

fn schedule_view(s: crate::db::schedules::ScheduleRow) -> ScheduleView {
    ScheduleView {
        id: s.id,
        at: s.at,
        status: s.status,
        changes: s.changes,
        version: s.version,
        error: s.error,
        created_at: s.created_at,
    }
}

/// Schedule a change of the code: applied at `at` (within seconds), as a new version, and
/// announced like any change (`qr_code.updated`).
#[utoipa::path(post, path = "/api/v1/qr-codes/{id}/schedules", tag = "qr-codes", security(("bearer" = [])), request_body = ScheduleBody,
    responses((status = 201, body = ScheduleView), (status = 404, description = "Not found"),
        (status = 409, description = "Too many pending changes"), (status = 422, description = "Invalid time or changes")))]
#[post("/{id}/schedules")]
pub async fn schedule(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ScheduleBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    let row = codes::schedules::create(
        &state,
        &caller.origin,
        &caller.principal,
        *id,
        b.at,
        b.changes,
    )
    .await?;
    Ok(HttpResponse::Created().json(schedule_view(row)))
}

/// The code's scheduled changes, soonest first, whatever their status.
#[utoipa::path(get, path = "/api/v1/qr-codes/{id}/schedules", tag = "qr-codes", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<ScheduleView>), (status = 404, description = "Not found")))]
#[get("/{id}/schedules")]
pub async fn schedules(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<ScheduleView>>> {
    let w = page.window()?;
    let paged = codes::schedules::list(&state, &caller.principal, *id, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, schedule_view)))
}

/// Cancel a pending scheduled change.
#[utoipa::path(delete, path = "/api/v1/qr-codes/{id}/schedules/{schedule_id}", tag = "qr-codes", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The code"), ("schedule_id" = Uuid, Path, description = "The scheduled change")),
    responses((status = 204, description = "Cancelled"), (status = 404, description = "Not found"),
        (status = 409, description = "Already applied, failed or cancelled")))]
#[delete("/{id}/schedules/{schedule_id}")]
pub async fn cancel_schedule(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, schedule_id) = path.into_inner();
    codes::schedules::cancel(&state, &caller.origin, &caller.principal, id, schedule_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Delete a code (it stops resolving; analytics are kept).
#[utoipa::path(delete, path = "/api/v1/qr-codes/{id}", tag = "qr-codes", security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Not found")))]
#[delete("/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    codes::delete(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
pub struct ImageQuery {
    /// png (default), svg or pdf
    format: Option<Format>,
    /// Width in pixels, 128–4096 (default 512).
    size: Option<u32>,
}

/// The rendered code. Cached; answers 304 to a matching `If-None-Match`.
#[utoipa::path(get, path = "/api/v1/qr-codes/{id}/image", tag = "qr-codes", security(("bearer" = [])), params(ImageQuery),
    responses((status = 200, description = "PNG (default), SVG or PDF", content_type = "image/png"),
        (status = 304, description = "Not modified"), (status = 404, description = "Not found"), (status = 422, description = "Bad size or format")))]
#[get("/{id}/image")]
pub async fn image(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    q: web::Query<ImageQuery>,
) -> ApiResult<HttpResponse> {
    let size = q.size.unwrap_or(DEFAULT_SIZE);
    if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
        return Err(ApiError::field(
            "size",
            format!("must be between {MIN_SIZE} and {MAX_SIZE}"),
        ));
    }
    let format = q.format.unwrap_or(Format::Png);
    let inm = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let cache = "private, max-age=300";
    match codes::image(&state, &caller.principal, *id, format, size, inm).await? {
        Image::NotModified { etag } => Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish()),
        Image::Fresh {
            bytes,
            etag,
            format,
        } => {
            let disposition = format!("inline; filename=\"qr-{id}.{}\"", format.extension());
            Ok(HttpResponse::Ok()
                .content_type(format.content_type())
                .insert_header((header::ETAG, etag))
                .insert_header((header::CACHE_CONTROL, cache))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&disposition).map_err(ApiError::internal)?,
                ))
                .body(bytes))
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Hottest first (the router tries resources in order); `/{id}/…` never shadows `/{id}`.
    cfg.service(
        web::scope("/qr-codes")
            .service(image)
            .service(super::analytics::per_code)
            .service(super::analytics::per_code_csv)
            .service(create)
            .service(super::jobs::bulk_create)
            .service(list)
            .service(get_one)
            .service(update)
            .service(remove)
            .service(versions)
            .service(restore_version)
            .service(schedule)
            .service(schedules)
            .service(cancel_schedule),
    );
}
