use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ProjectRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub color: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
    name: &str,
    color: Option<&str>,
) -> Result<ProjectRow, sqlx::Error> {
    sqlx::query_as!(
        ProjectRow,
        "INSERT INTO projects (id, user_id, name, color) VALUES ($1, $2, $3, $4) \
         RETURNING id, user_id, name, color, created_at, updated_at",
        id,
        user_id,
        name,
        color
    )
    .fetch_one(db)
    .await
}

pub async fn list(
    db: &sqlx::PgPool,
    user_id: Uuid,
    w: Window,
) -> Result<Paged<ProjectRow>, sqlx::Error> {
    let items = sqlx::query_as!(
        ProjectRow,
        "SELECT id, user_id, name, color, created_at, updated_at FROM projects \
         WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
        user_id,
        w.limit,
        w.offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM projects WHERE user_id = $1",
        user_id
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

/// The owner's project; other tenants' ids read as absent.
pub async fn get(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ProjectRow>, sqlx::Error> {
    sqlx::query_as!(
        ProjectRow,
        "SELECT id, user_id, name, color, created_at, updated_at FROM projects \
         WHERE user_id = $1 AND id = $2",
        user_id,
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn get_for_update(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ProjectRow>, sqlx::Error> {
    sqlx::query_as!(
        ProjectRow,
        "SELECT id, user_id, name, color, created_at, updated_at FROM projects \
         WHERE user_id = $1 AND id = $2 FOR UPDATE",
        user_id,
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
    color: Option<&str>,
) -> Result<ProjectRow, sqlx::Error> {
    sqlx::query_as!(
        ProjectRow,
        "UPDATE projects SET name = $2, color = $3 WHERE id = $1 \
         RETURNING id, user_id, name, color, created_at, updated_at",
        id,
        name,
        color
    )
    .fetch_one(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM projects WHERE id = $1", id)
        .execute(db)
        .await
        .map(|_| ())
}

/// The user's projects as (id, name), for resolving names (bulk create).
pub async fn names(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query!("SELECT id, name FROM projects WHERE user_id = $1", user_id)
        .map(|r| (r.id, r.name))
        .fetch_all(db)
        .await
}
