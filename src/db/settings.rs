use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SettingsRow {
    pub locale: String,
    pub timezone: String,
    pub default_design: Json<serde_json::Value>,
    pub notifications: Json<serde_json::Value>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The user's settings; defaults (from the column defaults) when never saved.
pub async fn get(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<SettingsRow, sqlx::Error> {
    sqlx::query_as::<_, SettingsRow>(
        "SELECT s.locale, s.timezone, s.default_design, s.notifications, s.updated_at \
         FROM (SELECT $1::uuid AS user_id) me \
         LEFT JOIN LATERAL (SELECT * FROM user_settings WHERE user_id = me.user_id) x ON true \
         CROSS JOIN LATERAL (SELECT COALESCE(x.locale, 'en') AS locale, \
                                    COALESCE(x.timezone, 'UTC') AS timezone, \
                                    COALESCE(x.default_design, '{}'::jsonb) AS default_design, \
                                    COALESCE(x.notifications, '{}'::jsonb) AS notifications, \
                                    x.updated_at) s",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}

pub async fn put(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    locale: &str,
    timezone: &str,
    default_design: &serde_json::Value,
    notifications: &serde_json::Value,
) -> Result<SettingsRow, sqlx::Error> {
    sqlx::query_as::<_, SettingsRow>(
        "INSERT INTO user_settings (user_id, locale, timezone, default_design, notifications) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET locale = EXCLUDED.locale, timezone = EXCLUDED.timezone, \
           default_design = EXCLUDED.default_design, notifications = EXCLUDED.notifications \
         RETURNING locale, timezone, default_design, notifications, updated_at",
    )
    .bind(user_id)
    .bind(locale)
    .bind(timezone)
    .bind(Json(default_design))
    .bind(Json(notifications))
    .fetch_one(db)
    .await
}
