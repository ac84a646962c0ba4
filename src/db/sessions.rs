use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::users::{UserRow, user_from};
use crate::domain::Role;

pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(db: impl PgExecutor<'_>, s: &NewSession<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, token_hash, ip, user_agent, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        s.id,
        s.user_id,
        s.token_hash,
        s.ip,
        s.user_agent,
        s.expires_at
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// The live session with this token hash and its user.
pub async fn user_by_token_hash(
    db: impl PgExecutor<'_>,
    hash: &[u8],
) -> Result<Option<(Uuid, UserRow)>, sqlx::Error> {
    // Loaded at most once a minute per token (the principal cache), so marking the use here
    // keeps `last_used_at` to the minute without a write per request.
    let row = sqlx::query!(
        r#"WITH s AS (
             UPDATE sessions SET last_used_at = now()
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
             RETURNING id, user_id
           )
           SELECT s.id AS session_id, u.id AS "id!", u.email AS "email!", u.name AS "name?", u.avatar_url AS "avatar_url?",
             u.provider AS "provider!", u.role AS "role!: Role", u.password_hash AS "password_hash?",
             u.suspended_at AS "suspended_at?", u.created_at AS "created_at!",
             u.updated_at AS "updated_at!", u.email_verified_at AS "email_verified_at?"
           FROM s JOIN users u ON u.id = s.user_id"#,
        hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.session_id, user_from!(r))))
}

pub async fn revoke(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        id
    )
    .execute(db)
    .await
    .map(|_| ())
}

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// A user's live sessions, most recently used first.
pub async fn list_live(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as!(
        SessionRow,
        "SELECT id, ip, user_agent, created_at, last_used_at, expires_at FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() \
         ORDER BY coalesce(last_used_at, created_at) DESC, id DESC",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Revokes one of the user's live sessions; false when it is not theirs or not live.
pub async fn revoke_own(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now() \
         WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL AND expires_at > now()",
        user_id,
        id
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Revokes every live session of a user but `keep` (a password change keeps the caller's).
pub async fn revoke_others(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now() \
         WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
        user_id,
        keep
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// Revokes every live session of a user (suspension); returns how many.
pub async fn revoke_all_for_user(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// Deletes sessions that can no longer be used: expired, or revoked more than a day ago.
pub async fn purge_dead(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "DELETE FROM sessions WHERE expires_at < now() OR revoked_at < now() - interval '1 day'"
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}
