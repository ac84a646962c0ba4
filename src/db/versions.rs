//! `qr_code_versions`: the numbered history of what each code does when scanned.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub changes: serde_json::Value,
    pub state: serde_json::Value,
}

pub struct NewVersion<'a> {
    pub qr_id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub changes: &'a serde_json::Value,
    pub state: &'a serde_json::Value,
}

/// Appends the next version; answers its number. The caller holds the code's row lock (a
/// create or an update of the code in the same transaction), so numbers never collide.
pub async fn append(db: impl PgExecutor<'_>, v: &NewVersion<'_>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO qr_code_versions (qr_id, version, actor_user_id, api_key_id, changes, state)
           SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5
           FROM qr_code_versions WHERE qr_id = $1
           RETURNING version"#,
        v.qr_id,
        v.actor_user_id,
        v.api_key_id,
        v.changes,
        v.state
    )
    .fetch_one(db)
    .await
}

/// The code's versions, newest first.
pub async fn list(
    db: &sqlx::PgPool,
    qr_id: Uuid,
    w: Window,
) -> Result<Paged<VersionRow>, sqlx::Error> {
    let items = sqlx::query_as!(
        VersionRow,
        "SELECT version, created_at, actor_user_id, api_key_id, changes, state \
         FROM qr_code_versions WHERE qr_id = $1 ORDER BY version DESC LIMIT $2 OFFSET $3",
        qr_id,
        w.limit,
        w.offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM qr_code_versions WHERE qr_id = $1"#,
        qr_id
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

pub async fn get(
    db: impl PgExecutor<'_>,
    qr_id: Uuid,
    version: i32,
) -> Result<Option<VersionRow>, sqlx::Error> {
    sqlx::query_as!(
        VersionRow,
        "SELECT version, created_at, actor_user_id, api_key_id, changes, state \
         FROM qr_code_versions WHERE qr_id = $1 AND version = $2",
        qr_id,
        version
    )
    .fetch_optional(db)
    .await
}

/// When each version in [from, to) was made, oldest first (markers on a code's analytics).
pub async fn made_between(
    db: impl PgExecutor<'_>,
    qr_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(i32, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query!(
        "SELECT version, created_at FROM qr_code_versions \
         WHERE qr_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY version LIMIT 1000",
        qr_id,
        from,
        to
    )
    .map(|r| (r.version, r.created_at))
    .fetch_all(db)
    .await
}
