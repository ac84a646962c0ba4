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
    sqlx::query_as::<_, ProjectRow>(
        "INSERT INTO projects (id, user_id, name, color) VALUES ($1, $2, $3, $4) \
         RETURNING id, user_id, name, color, created_at, updated_at",
    )
    .bind(id)
    .bind(user_id)
    .bind(name)
    .bind(color)
    .fetch_one(db)
    .await
}

pub async fn list(
    db: &sqlx::PgPool,
    user_id: Uuid,
    w: Window,
) -> Result<Paged<ProjectRow>, sqlx::Error> {
    let items = sqlx::query_as::<_, ProjectRow>(
        "SELECT id, user_id, name, color, created_at, updated_at FROM projects \
         WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
    )
    .bind(user_id)
    .bind(w.limit)
    .bind(w.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM projects WHERE user_id = $1")
        .bind(user_id)
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
    sqlx::query_as::<_, ProjectRow>(
        "SELECT id, user_id, name, color, created_at, updated_at FROM projects \
         WHERE user_id = $1 AND id = $2",
    )
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn get_for_update(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ProjectRow>, sqlx::Error> {
    sqlx::query_as::<_, ProjectRow>(
        "SELECT id, user_id, name, color, created_at, updated_at FROM projects \
         WHERE user_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
    color: Option<&str>,
) -> Result<ProjectRow, sqlx::Error> {
    sqlx::query_as::<_, ProjectRow>(
        "UPDATE projects SET name = $2, color = $3 WHERE id = $1 \
         RETURNING id, user_id, name, color, created_at, updated_at",
    )
    .bind(id)
    .bind(name)
    .bind(color)
    .fetch_one(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// The user's projects as (id, name), for resolving names (bulk create).
pub async fn names(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM projects WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(db)
        .await
}
