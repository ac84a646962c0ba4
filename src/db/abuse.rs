//! The destination blocklist and abuse reports.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct BlockRow {
    pub id: Uuid,
    pub pattern: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn patterns(db: impl PgExecutor<'_>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT pattern FROM destination_blocklist")
        .fetch_all(db)
        .await
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<BlockRow>, sqlx::Error> {
    sqlx::query_as!(
        BlockRow,
        "SELECT id, pattern, reason, created_at FROM destination_blocklist ORDER BY pattern"
    )
    .fetch_all(db)
    .await
}

pub async fn insert_pattern(
    db: impl PgExecutor<'_>,
    pattern: &str,
    reason: Option<&str>,
    by: Uuid,
) -> Result<BlockRow, sqlx::Error> {
    sqlx::query_as!(BlockRow, "INSERT INTO destination_blocklist (id, pattern, reason, created_by) VALUES ($1, $2, $3, $4) \
         RETURNING id, pattern, reason, created_at", Uuid::now_v7(), pattern, reason, by)
    .fetch_one(db)
    .await
}

pub async fn delete_pattern(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<BlockRow>, sqlx::Error> {
    sqlx::query_as!(
        BlockRow,
        "DELETE FROM destination_blocklist WHERE id = $1 RETURNING id, pattern, reason, created_at",
        id
    )
    .fetch_optional(db)
    .await
}

/// Live codes with a target: (id, short code, target).
pub async fn live_targets(
    db: impl PgExecutor<'_>,
) -> Result<Vec<(Uuid, String, String)>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT id, short_code, target_url AS "target_url!" FROM qr_codes
           WHERE status IN ('active', 'paused') AND target_url IS NOT NULL"#,
    )
    .map(|r| (r.id, r.short_code, r.target_url))
    .fetch_all(db)
    .await
}

pub async fn block_codes(db: impl PgExecutor<'_>, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE qr_codes SET status = 'blocked' WHERE id = ANY($1)",
        ids
    )
    .execute(db)
    .await
    .map(|_| ())
}

#[derive(Debug, sqlx::FromRow)]
pub struct ReportRow {
    pub id: Uuid,
    pub qr_id: Uuid,
    pub short_code: String,
    pub target_url: Option<String>,
    pub code_status: String,
    pub reason: String,
    pub details: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_report(
    db: impl PgExecutor<'_>,
    qr_id: Uuid,
    reason: &str,
    details: Option<&str>,
    reporter_ip: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO abuse_reports (id, qr_id, reason, details, reporter_ip) \
         VALUES ($1, $2, $3, $4, $5)",
        id,
        qr_id,
        reason,
        details,
        reporter_ip
    )
    .execute(db)
    .await?;
    Ok(id)
}

/// Reports, newest first, optionally of one status.
pub async fn reports(
    db: &sqlx::PgPool,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ReportRow>, i64), sqlx::Error> {
    let items = sqlx::query_as!(
        ReportRow,
        "SELECT r.id, r.qr_id, q.short_code, q.target_url, q.status AS code_status, r.reason, \
           r.details, r.status, r.created_at \
         FROM abuse_reports r JOIN qr_codes q ON q.id = r.qr_id \
         WHERE ($1::text IS NULL OR r.status = $1) \
         ORDER BY r.created_at DESC, r.id DESC LIMIT $2 OFFSET $3",
        status,
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM abuse_reports WHERE ($1::text IS NULL OR status = $1)",
        status
    )
    .fetch_one(db)
    .await?;
    Ok((items, total))
}

/// Marks a report resolved; false when there is no such report.
pub async fn resolve_report(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "UPDATE abuse_reports SET status = 'resolved' WHERE id = $1",
        id
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}
