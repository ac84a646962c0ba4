use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SettingsRow {
    pub locale: String,
    pub timezone: String,
    pub default_design: serde_json::Value,
    pub notifications: serde_json::Value,
    pub branding: serde_json::Value,
    pub anonymize_ip: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The user's settings; defaults (from the column defaults) when never saved.
pub async fn get(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<SettingsRow, sqlx::Error> {
    sqlx::query_as!(SettingsRow, "SELECT s.locale AS \"locale!\", s.timezone AS \"timezone!\", s.default_design AS \"default_design!\", \
                s.notifications AS \"notifications!\", s.branding AS \"branding!\", s.anonymize_ip AS \"anonymize_ip!\", s.updated_at AS \"updated_at?\" \
         FROM (SELECT $1::uuid AS user_id) me \
         LEFT JOIN LATERAL (SELECT * FROM user_settings WHERE user_id = me.user_id) x ON true \
         CROSS JOIN LATERAL (SELECT COALESCE(x.locale, 'en') AS locale, \
                                    COALESCE(x.timezone, 'UTC') AS timezone, \
                                    COALESCE(x.default_design, '{}'::jsonb) AS default_design, \
                                    COALESCE(x.notifications, '{}'::jsonb) AS notifications, \
                                    COALESCE(x.branding, '{}'::jsonb) AS branding, \
                                    COALESCE(x.anonymize_ip, true) AS anonymize_ip, \
                                    x.updated_at) s", user_id)
    .fetch_one(db)
    .await
}

pub struct NewSettings<'a> {
    pub locale: &'a str,
    pub timezone: &'a str,
    pub default_design: &'a serde_json::Value,
    pub notifications: &'a serde_json::Value,
    pub branding: &'a serde_json::Value,
    pub anonymize_ip: bool,
}

pub async fn put(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    n: &NewSettings<'_>,
) -> Result<SettingsRow, sqlx::Error> {
    sqlx::query_as!(SettingsRow, "INSERT INTO user_settings (user_id, locale, timezone, default_design, notifications, branding, anonymize_ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (user_id) DO UPDATE SET locale = EXCLUDED.locale, timezone = EXCLUDED.timezone, \
           default_design = EXCLUDED.default_design, notifications = EXCLUDED.notifications, \
           branding = EXCLUDED.branding, anonymize_ip = EXCLUDED.anonymize_ip \
         RETURNING locale, timezone, default_design, notifications, branding, anonymize_ip, updated_at", user_id, n.locale, n.timezone, Json(n.default_design) as _, Json(n.notifications) as _, Json(n.branding) as _, n.anonymize_ip)
    .fetch_one(db)
    .await
}

/// Which of `users` turned a notification off (`notifications.<key> = false`); a key never
/// saved keeps its default, which is on for every key this is asked about.
pub async fn opted_out(
    db: impl PgExecutor<'_>,
    users: &[Uuid],
    key: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("SELECT user_id FROM user_settings WHERE user_id = ANY($1) AND notifications -> $2 = 'false'::jsonb", users, key)
    .fetch_all(db)
    .await
}
