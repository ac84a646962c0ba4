//! "Report this code": anyone who scanned a code can flag it from its landing page; reports
//! wait in the operator's queue (`GET /api/v1/admin/reports`).

use uuid::Uuid;

use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Limit;
use crate::state::AppState;

pub const REASONS: &[&str] = &["phishing", "malware", "spam", "illegal", "other"];

/// Files a report against the live code `short_code`; refuses floods from one address.
pub async fn file(
    state: &AppState,
    short_code: &str,
    reason: &str,
    details: Option<&str>,
    reporter_ip: &str,
) -> ApiResult<Uuid> {
    if !REASONS.contains(&reason) {
        return Err(ApiError::field(
            "reason",
            "must be phishing, malware, spam, illegal or other",
        ));
    }
    let details = details.map(str::trim).filter(|d| !d.is_empty());
    if details.is_some_and(|d| d.chars().count() > 2000 || d.contains('\0')) {
        return Err(ApiError::field(
            "details",
            "must be at most 2000 characters of text",
        ));
    }
    let per_ip = Limit {
        bucket: "abuse-report",
        limit: 5,
        window_secs: 3600,
    };
    state.limiter.hit_or_refuse(&per_ip, reporter_ip).await?;
    let qr = db::qr_codes::by_short_code(&state.db, short_code)
        .await?
        .ok_or(ApiError::NotFound)?;
    let id = db::abuse::insert_report(&state.db, qr.id, reason, details, reporter_ip).await?;
    metrics::counter!("abuse_reports_total").increment(1);
    Ok(id)
}

/// Closes a report (after blocking the code, or finding nothing wrong); audited.
pub async fn resolve(
    state: &AppState,
    origin: &crate::accounts::Origin,
    admin: &crate::accounts::Principal,
    id: Uuid,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    if !db::abuse::resolve_report(&mut *tx, id).await? {
        return Err(ApiError::NotFound);
    }
    crate::accounts::audit::record(
        &mut tx,
        &origin.actor(Some(admin)),
        crate::accounts::audit::Change::<(), _> {
            action: "abuse_report.resolve",
            entity_type: "abuse_report",
            entity_id: Some(id.to_string()),
            before: None,
            after: Some(&serde_json::json!({"status": "resolved"})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
