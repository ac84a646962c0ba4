use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatementRow {
    pub user_id: Uuid,
    pub month: NaiveDate,
    pub scans: i64,
    pub codes_created: i32,
    pub exports: i32,
    pub scans_over_quota: i64,
    pub credits_spent: i32,
    /// The plan that applied when the statement was written, and its limits.
    pub plan_id: Option<String>,
    pub limits: Option<serde_json::Value>,
    pub email_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// The month a statement covers: `[start, end)` in UTC; `month` is its first day.
pub struct Month {
    pub month: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Writes the statements of `m` for `users` that have none yet and returns only those written:
/// a re-run finds the rows (primary key) and returns nothing, so nobody is e-mailed twice.
/// Scans are the metered ones (`billing_usage`, counted as scans are ingested); codes are
/// counted by creation whatever became of them since; exports are the ones that succeeded.
pub async fn create_missing(
    db: impl PgExecutor<'_>,
    m: &Month,
    users: &[Uuid],
) -> Result<Vec<StatementRow>, sqlx::Error> {
    sqlx::query_as!(
        StatementRow,
        "INSERT INTO usage_statements (user_id, month, scans, codes_created, exports, \
                                       scans_over_quota, credits_spent) \
         SELECT u.id, $2, \
                COALESCE((SELECT sum(b.scans_used) FROM billing_usage b \
                          WHERE b.user_id = u.id AND b.date >= $2 AND b.date < $5), 0), \
                (SELECT count(*) FROM qr_codes q \
                 WHERE q.user_id = u.id AND q.created_at >= $3 AND q.created_at < $4), \
                (SELECT count(*) FROM jobs j \
                 WHERE j.user_id = u.id AND j.kind = 'export' AND j.status = 'succeeded' \
                   AND j.finished_at >= $3 AND j.finished_at < $4), \
                COALESCE((SELECT sum(b.scans_over_quota) FROM billing_usage b \
                          WHERE b.user_id = u.id AND b.date >= $2 AND b.date < $5), 0), \
                COALESCE((SELECT -sum(c.amount) FROM credit_ledger c \
                          WHERE c.user_id = u.id AND c.kind = 'spend' \
                            AND c.created_at >= $3 AND c.created_at < $4), 0) \
         FROM UNNEST($1::uuid[]) AS u(id) \
         ON CONFLICT (user_id, month) DO NOTHING \
         RETURNING "
            + "user_id, month, scans, codes_created, exports, scans_over_quota, credits_spent, \
                       plan_id, limits, email_id, created_at",
        users,
        m.month,
        m.start,
        m.end,
        m.end.date_naive()
    )
    .fetch_all(db)
    .await
}

/// The plan that applied, and its limits.
pub async fn set_plan(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    month: NaiveDate,
    plan_id: &str,
    limits: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE usage_statements SET plan_id = $3, limits = $4 WHERE user_id = $1 AND month = $2",
        user_id,
        month,
        plan_id,
        sqlx::types::Json(limits) as _
    )
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn set_email(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    month: NaiveDate,
    email_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE usage_statements SET email_id = $3 WHERE user_id = $1 AND month = $2",
        user_id,
        month,
        email_id
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// The user's statements, newest month first.
pub async fn list(
    db: &sqlx::PgPool,
    user_id: Uuid,
    w: Window,
) -> Result<Paged<StatementRow>, sqlx::Error> {
    let items = sqlx::query_as!(
        StatementRow,
        "SELECT "
            + "user_id, month, scans, codes_created, exports, scans_over_quota, credits_spent, \
                       plan_id, limits, email_id, created_at"
            + " FROM usage_statements WHERE user_id = $1 \
         ORDER BY month DESC LIMIT $2 OFFSET $3",
        user_id,
        w.limit,
        w.offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM usage_statements WHERE user_id = $1",
        user_id
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}
