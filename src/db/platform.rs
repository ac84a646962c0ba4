//! Counts across all tenants, for the operator's console.

use sqlx::PgExecutor;

#[derive(Debug, sqlx::FromRow)]
pub struct Counts {
    pub accounts: i64,
    pub suspended: i64,
    pub active_30d: i64,
    pub paying: i64,
    pub codes: i64,
    pub dynamic_codes: i64,
    pub blocked_codes: i64,
    pub dead_jobs: i64,
}

/// One round trip; each count is an index or a small table scan at self-hosted sizes.
pub async fn counts(db: impl PgExecutor<'_>) -> Result<Counts, sqlx::Error> {
    sqlx::query_as!(Counts, "SELECT \
           (SELECT count(*) FROM users) AS \"accounts!\", \
           (SELECT count(*) FROM users WHERE suspended_at IS NOT NULL) AS \"suspended!\", \
           (SELECT count(DISTINCT user_id) FROM sessions \
              WHERE coalesce(last_used_at, created_at) > now() - interval '30 days') AS \"active_30d!\", \
           (SELECT count(DISTINCT user_id) FROM billing_subscriptions \
              WHERE status IN ('active', 'trialing', 'past_due')) AS \"paying!\", \
           (SELECT count(*) FROM qr_codes WHERE status <> 'deleted') AS \"codes!\", \
           (SELECT count(*) FROM qr_codes WHERE status <> 'deleted' AND dynamic) AS \"dynamic_codes!\", \
           (SELECT count(*) FROM qr_codes WHERE status = 'blocked') AS \"blocked_codes!\", \
           (SELECT count(*) FROM jobs WHERE status = 'failed') AS \"dead_jobs!\"")
    .fetch_one(db)
    .await
}

/// Live subscriptions by plan and interval (for MRR).
pub async fn subscriptions(
    db: impl PgExecutor<'_>,
) -> Result<Vec<(String, Option<String>, i64)>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT plan_id, interval, count(*) AS "n!" FROM billing_subscriptions
           WHERE status IN ('active', 'trialing', 'past_due') GROUP BY 1, 2 ORDER BY 1, 2"#,
    )
    .map(|r| (r.plan_id, r.interval, r.n))
    .fetch_all(db)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct CodeHit {
    pub id: uuid::Uuid,
    pub user_id: Option<uuid::Uuid>,
    pub owner_email: Option<String>,
    pub name: Option<String>,
    pub qr_type: String,
    pub short_code: String,
    pub target_url: Option<String>,
    pub status: String,
    pub scans_total: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Codes of every tenant matching `q` by name, short code or target host (case-insensitive,
/// wildcards in `q` literal), newest first.
pub async fn search_codes(
    db: &sqlx::PgPool,
    q: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<CodeHit>, i64), sqlx::Error> {
    let pattern = q.map(|q| format!("%{}%", super::users::escape_like(q)));
    let items = sqlx::query_as!(
        CodeHit,
        "SELECT q.id, q.user_id, u.email AS \"owner_email?\", q.name, q.qr_type, q.short_code, \
           q.target_url, q.status, q.scans_total, q.created_at \
         FROM qr_codes q LEFT JOIN users u ON u.id = q.user_id "
            + "WHERE q.status <> 'deleted' AND ($1::text IS NULL \
               OR q.name ILIKE $1 OR q.short_code ILIKE $1 \
               OR substring(q.target_url from '^[a-z]+://([^/:?#]+)') ILIKE $1) "
            + "ORDER BY q.created_at DESC, q.id DESC LIMIT $2 OFFSET $3",
        pattern.as_deref(),
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM qr_codes q "
            + "WHERE q.status <> 'deleted' AND ($1::text IS NULL \
               OR q.name ILIKE $1 OR q.short_code ILIKE $1 \
               OR substring(q.target_url from '^[a-z]+://([^/:?#]+)') ILIKE $1) ",
        pattern.as_deref()
    )
    .fetch_one(db)
    .await?;
    Ok((items, total))
}
