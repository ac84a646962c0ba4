//! `/api/v1/qr-codes/{id}/analytics`, `/api/v1/analytics` and their `.csv` forms.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::extract::Caller;
use crate::accounts::preferences;
use crate::analytics::report::{self, Interval, Query, Report, Scope};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::{codes, db};

#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// RFC 3339; default 30 days before `to`.
    from: Option<String>,
    /// RFC 3339; default now.
    to: Option<String>,
    /// hour, day (default) or month.
    interval: Option<Interval>,
    /// IANA zone for the buckets; default the caller's settings.
    tz: Option<String>,
    /// Count link-preview fetchers and crawlers too (default false).
    include_bots: Option<bool>,
    /// Account-wide reports only: one project.
    project_id: Option<Uuid>,
    /// `auto` (default): long ranges read the daily rollups for whole days; `raw`: raw events
    /// only (slower on long ranges; the numbers are the same).
    source: Option<Source>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Auto,
    Raw,
}

async fn run(
    state: &AppState,
    caller: &Caller,
    q: &ReportQuery,
    code: Option<Uuid>,
) -> ApiResult<Report> {
    let p = &caller.principal;
    let default_tz = preferences::get(state, p).await?.timezone;
    let query = Query::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        q.interval,
        q.tz.as_deref(),
        q.include_bots,
        &default_tz,
    )?;
    crate::billing::limits::within_retention(&state.db, &state.billing, p.user.id, query.from)
        .await?;
    let mut ab = false;
    let scope = match code {
        Some(id) => {
            // Ownership first: another tenant's code is simply not found.
            ab = codes::splits_visitors(&codes::get(state, p, id).await?.row);
            Scope::Code {
                owner: p.user.id,
                qr_id: id,
            }
        }
        None => {
            if let Some(pid) = q.project_id
                && db::projects::get(&state.db, p.user.id, pid)
                    .await?
                    .is_none()
            {
                return Err(ApiError::field("project_id", "no such project"));
            }
            Scope::Account {
                owner: p.user.id,
                project_id: q.project_id,
            }
        }
    };
    let rolled = match q.source {
        Some(Source::Raw) => None,
        _ => report::plan_sources(&state.db, &query).await,
    };
    let (report, markers, variants) = tokio::join!(
        report::report(&state.clickhouse, &scope, &query, rolled.as_ref()),
        report::markers(&state.db, &scope, &query),
        async {
            // Only A/B codes pay for the extra read.
            if ab {
                report::variants(&state.clickhouse, &scope, &query).await
            } else {
                Ok(Vec::new())
            }
        }
    );
    Ok(Report {
        markers,
        variants: variants?,
        ..report?
    })
}

fn csv(r: &Report, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(report::to_csv(r))
}

/// Scans of one code.
#[utoipa::path(get, path = "/api/v1/qr-codes/{id}/analytics", tag = "analytics", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, body = Report), (status = 404, description = "Not found"), (status = 422, description = "Bad range, interval or zone"),
        (status = 402, description = "`from` is further back than the plan's retention_days"),
        (status = 503, description = "Analytics store unavailable")))]
#[get("/{id}/analytics")]
pub async fn per_code(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    q: web::Query<ReportQuery>,
) -> ApiResult<web::Json<Report>> {
    Ok(web::Json(run(&state, &caller, &q, Some(*id)).await?))
}

/// Scans of one code, as CSV (`section,key,scans`).
#[utoipa::path(get, path = "/api/v1/qr-codes/{id}/analytics.csv", tag = "analytics", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, content_type = "text/csv", description = "The report"), (status = 404, description = "Not found")))]
#[get("/{id}/analytics.csv")]
pub async fn per_code_csv(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    q: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    Ok(csv(
        &run(&state, &caller, &q, Some(*id)).await?,
        &format!("qr-{id}-analytics"),
    ))
}

/// Scans of all the caller's codes (optionally one project).
#[utoipa::path(get, path = "/api/v1/analytics", tag = "analytics", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, body = Report), (status = 422, description = "Bad range, interval, zone or project")))]
#[get("/analytics")]
pub async fn account(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ReportQuery>,
) -> ApiResult<web::Json<Report>> {
    Ok(web::Json(run(&state, &caller, &q, None).await?))
}

/// Scans of all the caller's codes, as CSV.
#[utoipa::path(get, path = "/api/v1/analytics.csv", tag = "analytics", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, content_type = "text/csv", description = "The report")))]
#[get("/analytics.csv")]
pub async fn account_csv(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    Ok(csv(&run(&state, &caller, &q, None).await?, "analytics"))
}
