use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: Uuid,
    pub name: String,
    pub category: Option<String>,
    pub image_path: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

pub async fn list(
    db: impl PgExecutor<'_>,
    category: Option<&str>,
) -> Result<Vec<TemplateRow>, sqlx::Error> {
    sqlx::query_as!(
        TemplateRow,
        "SELECT id, name, category, image_path, metadata FROM templates \
         WHERE ($1::text IS NULL OR category = $1) ORDER BY category, name",
        category
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<TemplateRow>, sqlx::Error> {
    sqlx::query_as!(
        TemplateRow,
        "SELECT id, name, category, image_path, metadata FROM templates WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FilledRow {
    pub id: Uuid,
    pub template_id: Option<Uuid>,
    pub data: Option<serde_json::Value>,
    pub url_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_data(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
    template_id: Uuid,
    data: &serde_json::Value,
    url_id: &str,
) -> Result<FilledRow, sqlx::Error> {
    sqlx::query_as!(FilledRow, "INSERT INTO template_data (id, user_id, template_id, data, url_id) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, template_id, data, url_id, created_at", id, user_id, template_id, Json(data) as _, url_id)
    .fetch_one(db)
    .await
}

pub async fn data_by_url_id(
    db: impl PgExecutor<'_>,
    url_id: &str,
) -> Result<Option<FilledRow>, sqlx::Error> {
    sqlx::query_as!(
        FilledRow,
        "SELECT id, template_id, data, url_id, created_at FROM template_data WHERE url_id = $1",
        url_id
    )
    .fetch_optional(db)
    .await
}
