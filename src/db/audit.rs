use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

pub struct NewAudit<'a> {
    pub actor_user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<String>,
    pub ip: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub async fn insert(db: impl PgExecutor<'_>, a: NewAudit<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO audit_logs (id, actor_user_id, api_key_id, action, entity_type, entity_id, ip, request_id, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", Uuid::now_v7(), a.actor_user_id, a.api_key_id, a.action, a.entity_type, a.entity_id, a.ip, a.request_id, a.before, a.after)
    .execute(db)
    .await
    .map(|_| ())
}

/// Filters of a listing; `actor` = None lists everyone's (admin).
pub struct AuditFilter<'a> {
    pub actor: Option<Uuid>,
    pub action: Option<&'a str>,
    pub entity_type: Option<&'a str>,
}

pub async fn list(
    db: &sqlx::PgPool,
    f: &AuditFilter<'_>,
    w: Window,
) -> Result<Paged<AuditRow>, sqlx::Error> {
    let items = sqlx::query_as!(AuditRow, "SELECT id, actor_user_id, api_key_id, action, entity_type, entity_id, ip, request_id, before, after, created_at \
         FROM audit_logs \
         WHERE ($1::uuid IS NULL OR actor_user_id = $1) AND ($2::text IS NULL OR action = $2) \
           AND ($3::text IS NULL OR entity_type = $3) \
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5", f.actor, f.action, f.entity_type, w.limit, w.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM audit_logs \
         WHERE ($1::uuid IS NULL OR actor_user_id = $1) AND ($2::text IS NULL OR action = $2) \
           AND ($3::text IS NULL OR entity_type = $3)",
        f.actor,
        f.action,
        f.entity_type
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}
