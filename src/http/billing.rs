//! `/api/v1/billing/statements`: the caller's monthly usage statements.

use actix_web::{get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{Caller, ListResponse, PageQuery};
use crate::db::statements::StatementRow;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::statements;

#[derive(Serialize, ToSchema)]
pub struct StatementView {
    /// The first day of the calendar month (UTC) covered.
    month: NaiveDate,
    /// Scans metered in the month.
    scans: i64,
    codes_created: i32,
    /// Exports that completed in the month.
    exports: i32,
    /// Whether it was e-mailed (not for idle months or when statements are turned off).
    emailed: bool,
    created_at: DateTime<Utc>,
}

impl From<StatementRow> for StatementView {
    fn from(s: StatementRow) -> Self {
        StatementView {
            month: s.month,
            scans: s.scans,
            codes_created: s.codes_created,
            exports: s.exports,
            emailed: s.email_id.is_some(),
            created_at: s.created_at,
        }
    }
}

/// The caller's monthly usage statements, newest month first.
#[utoipa::path(get, path = "/api/v1/billing/statements", tag = "billing", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<StatementView>)))]
#[get("/billing/statements")]
pub async fn list_statements(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<StatementView>>> {
    let w = q.window()?;
    let paged = statements::list(&state, &caller.principal, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, StatementView::from)))
}
