use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::users::UserRow;

pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(db: impl PgExecutor<'_>, s: &NewSession<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, token_hash, ip, user_agent, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(s.token_hash)
    .bind(s.ip)
    .bind(s.user_agent)
    .bind(s.expires_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// The live session with this token hash and its user.
pub async fn user_by_token_hash(
    db: impl PgExecutor<'_>,
    hash: &[u8],
) -> Result<Option<(Uuid, UserRow)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        session_id: Uuid,
        #[sqlx(flatten)]
        user: UserRow,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT s.id AS session_id, u.* FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()",
    )
    .bind(hash)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.session_id, r.user)))
}

pub async fn revoke(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Revokes every live session of a user (suspension); returns how many.
pub async fn revoke_all_for_user(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

/// Deletes sessions that can no longer be used: expired, or revoked more than a day ago.
pub async fn purge_dead(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "DELETE FROM sessions WHERE expires_at < now() OR revoked_at < now() - interval '1 day'",
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}
