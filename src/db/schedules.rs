//! `qr_code_schedules`: changes of a code to apply at a set time.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone)]
pub struct ScheduleRow {
    pub id: Uuid,
    pub qr_id: Uuid,
    pub user_id: Uuid,
    pub api_key_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub changes: serde_json::Value,
    pub status: String,
    pub version: Option<i32>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub struct NewSchedule<'a> {
    pub id: Uuid,
    pub qr_id: Uuid,
    pub user_id: Uuid,
    pub api_key_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub changes: &'a serde_json::Value,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    s: &NewSchedule<'_>,
) -> Result<ScheduleRow, sqlx::Error> {
    sqlx::query_as!(
        ScheduleRow,
        "INSERT INTO qr_code_schedules (id, qr_id, user_id, api_key_id, at, changes) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, qr_id, user_id, api_key_id, at, changes, status, version, error, created_at",
        s.id,
        s.qr_id,
        s.user_id,
        s.api_key_id,
        s.at,
        s.changes
    )
    .fetch_one(db)
    .await
}

/// The code's schedules, soonest first.
pub async fn list(
    db: &sqlx::PgPool,
    qr_id: Uuid,
    w: Window,
) -> Result<Paged<ScheduleRow>, sqlx::Error> {
    let items = sqlx::query_as!(
        ScheduleRow,
        "SELECT id, qr_id, user_id, api_key_id, at, changes, status, version, error, created_at \
         FROM qr_code_schedules WHERE qr_id = $1 ORDER BY at, id LIMIT $2 OFFSET $3",
        qr_id,
        w.limit,
        w.offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM qr_code_schedules WHERE qr_id = $1"#,
        qr_id
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

/// Pending schedules of the code (a limit on how many may wait).
pub async fn pending_count(db: impl PgExecutor<'_>, qr_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM qr_code_schedules WHERE qr_id = $1 AND status = 'pending'"#,
        qr_id
    )
    .fetch_one(db)
    .await
}

/// What a cancel found.
pub enum Cancelled {
    /// No such schedule of this code.
    Missing,
    /// It was pending and is cancelled now.
    Now,
    /// It had already finished with this status.
    Already(String),
}

/// Cancels a pending schedule of the code.
pub async fn cancel(
    db: impl PgExecutor<'_>,
    qr_id: Uuid,
    id: Uuid,
) -> Result<Cancelled, sqlx::Error> {
    let r = sqlx::query!(
        r#"WITH c AS (
             UPDATE qr_code_schedules SET status = 'cancelled', finished_at = now()
             WHERE qr_id = $1 AND id = $2 AND status = 'pending' RETURNING id)
           SELECT EXISTS (SELECT 1 FROM c) AS "now!",
                  (SELECT status FROM qr_code_schedules WHERE qr_id = $1 AND id = $2) AS status"#,
        qr_id,
        id
    )
    .fetch_one(db)
    .await?;
    // The CTE's update is not visible to the statement's own subquery: a row cancelled now
    // still reads as pending there.
    Ok(match (r.now, r.status) {
        (true, _) => Cancelled::Now,
        (false, Some(status)) => Cancelled::Already(status),
        (false, None) => Cancelled::Missing,
    })
}

/// Pending schedules due at `now`, soonest first.
pub async fn due(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    sqlx::query_as!(
        ScheduleRow,
        "SELECT id, qr_id, user_id, api_key_id, at, changes, status, version, error, created_at \
         FROM qr_code_schedules WHERE status = 'pending' AND at <= $1 ORDER BY at, id LIMIT $2",
        now,
        limit
    )
    .fetch_all(db)
    .await
}

/// Marks the schedule applied with the version it made, in the change's transaction; false when
/// it is no longer pending (another scheduler applied it, or its owner cancelled it).
pub async fn mark_applied(
    db: impl PgExecutor<'_>,
    id: Uuid,
    version: Option<i32>,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "UPDATE qr_code_schedules SET status = 'applied', version = $2, finished_at = now() \
         WHERE id = $1 AND status = 'pending'",
        id,
        version
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Marks a pending schedule failed with the reason its change could not be applied.
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE qr_code_schedules SET status = 'failed', error = $2, finished_at = now() \
         WHERE id = $1 AND status = 'pending'",
        id,
        error
    )
    .execute(db)
    .await
    .map(|_| ())
}
