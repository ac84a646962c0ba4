use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct JobRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub status: String,
    pub params: serde_json::Value,
    pub progress_done: i32,
    pub progress_total: i32,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub attempts: i32,
    pub runs: i32,
    pub file_key: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
    kind: &str,
    params: &serde_json::Value,
    total: i32,
) -> Result<JobRow, sqlx::Error> {
    sqlx::query_as!(JobRow, "INSERT INTO jobs (id, user_id, kind, params, progress_total) VALUES ($1, $2, $3, $4, $5) RETURNING " + "id, user_id, kind, status, params, progress_done, progress_total, result, error, \
     attempts, runs, file_key, expires_at, created_at, started_at, finished_at", id, user_id, kind, Json(params) as _, total)
    .fetch_one(db)
    .await
}

/// Inserts an account data export; None when one of the account's is already queued or
/// running (one at a time, by a unique index).
pub async fn insert_account_export(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    user_id: Uuid,
    total: i32,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        "INSERT INTO jobs (id, user_id, kind, params, progress_total) \
         VALUES ($1, $2, 'account_export', '{}', $3) \
         ON CONFLICT (user_id) WHERE kind = 'account_export' AND status IN ('queued', 'running') \
         DO NOTHING RETURNING "
            + "id, user_id, kind, status, params, progress_done, progress_total, result, error, \
     attempts, runs, file_key, expires_at, created_at, started_at, finished_at",
        id,
        user_id,
        total
    )
    .fetch_optional(conn)
    .await
}

/// The account's queued or running job of `kind`.
pub async fn in_flight(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    kind: &str,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        "SELECT "
            + "id, user_id, kind, status, params, progress_done, progress_total, result, error, \
     attempts, runs, file_key, expires_at, created_at, started_at, finished_at"
            + " FROM jobs WHERE user_id = $1 AND kind = $2 \
         AND status IN ('queued', 'running') ORDER BY created_at DESC LIMIT 1",
        user_id,
        kind
    )
    .fetch_optional(db)
    .await
}

/// The job, if `user_id` owns it (or any job when `user_id` is None: admins).
pub async fn get(
    db: impl PgExecutor<'_>,
    user_id: Option<Uuid>,
    id: Uuid,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        "SELECT "
            + "id, user_id, kind, status, params, progress_done, progress_total, result, error, \
     attempts, runs, file_key, expires_at, created_at, started_at, finished_at"
            + " FROM jobs WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)",
        id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Claims a queued or interrupted job for a run and counts the attempt; None when the job is
/// already finished (a duplicate delivery) or cancelled.
pub async fn start(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, progress_done = 0, \
           started_at = COALESCE(started_at, now()) \
         WHERE id = $1 AND status IN ('queued', 'running') RETURNING "
            + "id, user_id, kind, status, params, progress_done, progress_total, result, error, \
     attempts, runs, file_key, expires_at, created_at, started_at, finished_at",
        id
    )
    .fetch_optional(db)
    .await
}

/// Records progress; answers the job's status (so a running job notices a cancel).
pub async fn progress(
    db: impl PgExecutor<'_>,
    id: Uuid,
    done: i32,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE jobs SET progress_done = $2 WHERE id = $1 RETURNING status",
        id,
        done
    )
    .fetch_optional(db)
    .await
}

/// Marks a running job succeeded; false if it was not running (cancelled meanwhile).
pub async fn succeed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    result: &serde_json::Value,
    file_key: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "UPDATE jobs SET status = 'succeeded', progress_done = progress_total, result = $2, \
           file_key = $3, expires_at = $4, error = NULL, finished_at = now() \
         WHERE id = $1 AND status = 'running'",
        id,
        Json(result) as _,
        file_key,
        expires_at
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Records a failed attempt (or a job that could not even be queued); `dead` marks the job
/// failed for good.
pub async fn fail(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
    dead: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE jobs SET error = $2, \
           status = CASE WHEN $3 THEN 'failed' ELSE status END, \
           finished_at = CASE WHEN $3 THEN now() ELSE finished_at END \
         WHERE id = $1 AND status IN ('queued', 'running')",
        id,
        error,
        dead
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// Cancels a queued or running job of `user_id` (any user's when None).
pub async fn cancel(
    db: impl PgExecutor<'_>,
    user_id: Option<Uuid>,
    id: Uuid,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        "UPDATE jobs SET status = 'cancelled', finished_at = now() \
         WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2) AND status IN ('queued', 'running') \
         RETURNING "
            + "id, user_id, kind, status, params, progress_done, progress_total, result, error, \
     attempts, runs, file_key, expires_at, created_at, started_at, finished_at",
        id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Puts a failed or cancelled job back in the queue state with fresh attempts.
pub async fn requeue(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        "UPDATE jobs SET status = 'queued', attempts = 0, runs = runs + 1, error = NULL, \
           progress_done = 0, finished_at = NULL \
         WHERE id = $1 AND status IN ('failed', 'cancelled') RETURNING "
            + "id, user_id, kind, status, params, progress_done, progress_total, result, error, \
     attempts, runs, file_key, expires_at, created_at, started_at, finished_at",
        id
    )
    .fetch_optional(db)
    .await
}

/// Jobs for the admin list, newest first, optionally of one status.
pub async fn list(
    db: impl PgExecutor<'_>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        "SELECT "
            + "id, user_id, kind, status, params, progress_done, progress_total, result, error, \
     attempts, runs, file_key, expires_at, created_at, started_at, finished_at"
            + " FROM jobs WHERE ($1::text IS NULL OR status = $1) \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        status,
        limit,
        offset
    )
    .fetch_all(db)
    .await
}

pub async fn count(db: impl PgExecutor<'_>, status: Option<&str>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM jobs WHERE ($1::text IS NULL OR status = $1)",
        status
    )
    .fetch_one(db)
    .await
}

/// Finished jobs whose file has passed its expiry: (id, file key).
pub async fn expired_files(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT id, file_key AS "file_key!" FROM jobs WHERE file_key IS NOT NULL AND expires_at < $1
           ORDER BY expires_at LIMIT $2"#,
        now,
        limit
    )
    .map(|r| (r.id, r.file_key))
    .fetch_all(db)
    .await
}

pub async fn forget_file(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE jobs SET file_key = NULL WHERE id = $1", id)
        .execute(db)
        .await
        .map(|_| ())
}
