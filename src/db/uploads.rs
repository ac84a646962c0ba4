use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: Uuid,
    pub original_type: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i32,
    pub storage_key: String,
    pub created_at: DateTime<Utc>,
}

pub struct NewUpload<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub original_type: &'a str,
    pub width: i32,
    pub height: i32,
    pub bytes: i32,
    pub storage_key: &'a str,
}

pub async fn insert(db: impl PgExecutor<'_>, u: &NewUpload<'_>) -> Result<UploadRow, sqlx::Error> {
    sqlx::query_as!(
        UploadRow,
        "INSERT INTO uploads (id, user_id, original_type, width, height, bytes, storage_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, original_type, width, height, bytes, storage_key, created_at",
        u.id,
        u.user_id,
        u.original_type,
        u.width,
        u.height,
        u.bytes,
        u.storage_key
    )
    .fetch_one(db)
    .await
}

pub async fn get(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<UploadRow>, sqlx::Error> {
    sqlx::query_as!(UploadRow, "SELECT id, original_type, width, height, bytes, storage_key, created_at FROM uploads WHERE user_id = $1 AND id = $2", user_id, id)
    .fetch_optional(db)
    .await
}
