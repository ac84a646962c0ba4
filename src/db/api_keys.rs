use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::users::{UserRow, user_from};
use crate::domain::Role;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub struct NewApiKey<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a [u8],
    pub scopes: &'a [String],
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: impl PgExecutor<'_>, k: &NewApiKey<'_>) -> Result<ApiKeyRow, sqlx::Error> {
    sqlx::query_as!(
        ApiKeyRow,
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, user_id, name, prefix, created_at, last_used_at, scopes, expires_at",
        k.id,
        k.user_id,
        k.name,
        k.prefix,
        k.key_hash,
        k.scopes,
        k.expires_at
    )
    .fetch_one(db)
    .await
}

pub async fn list_live(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as!(ApiKeyRow, "SELECT id, user_id, name, prefix, created_at, last_used_at, scopes, expires_at FROM api_keys \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC", user_id)
    .fetch_all(db)
    .await
}

pub async fn get_live(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as!(ApiKeyRow, "SELECT id, user_id, name, prefix, created_at, last_used_at, scopes, expires_at FROM api_keys \
         WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL", user_id, id)
    .fetch_optional(db)
    .await
}

/// Revokes the caller's key; `None` when it is not theirs or already revoked.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as!(ApiKeyRow, "UPDATE api_keys SET revoked_at = now() WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL \
         RETURNING id, user_id, name, prefix, created_at, last_used_at, scopes, expires_at", user_id, id)
    .fetch_optional(db)
    .await
}

/// The live key with this hash and its user; marks it used (at most once a minute, so a busy
/// integration does not turn every request into a write).
pub struct KeyOwner {
    pub key_id: Uuid,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub user: UserRow,
}

pub async fn user_by_key_hash(
    db: impl PgExecutor<'_>,
    hash: &[u8],
) -> Result<Option<KeyOwner>, sqlx::Error> {
    let row = sqlx::query!(
        r#"WITH k AS (
           UPDATE api_keys SET last_used_at = now()
           WHERE key_hash = $1 AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > now())
             AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
           RETURNING id, user_id, scopes, expires_at
         ), live AS (
           SELECT id, user_id, scopes, expires_at FROM k
           UNION ALL
           SELECT id, user_id, scopes, expires_at FROM api_keys
           WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
         )
         SELECT live.id AS "key_id!", live.scopes AS "key_scopes!", live.expires_at AS "key_expires_at?",
             u.id AS "id!", u.email AS "email!", u.name AS "name?", u.avatar_url AS "avatar_url?",
             u.provider AS "provider!", u.role AS "role!: Role", u.password_hash AS "password_hash?",
             u.suspended_at AS "suspended_at?", u.created_at AS "created_at!",
             u.updated_at AS "updated_at!", u.email_verified_at AS "email_verified_at?"
         FROM live JOIN users u ON u.id = live.user_id LIMIT 1"#,
        hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| KeyOwner {
        key_id: r.key_id,
        scopes: r.key_scopes,
        expires_at: r.key_expires_at,
        user: user_from!(r),
    }))
}
