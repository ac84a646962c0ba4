//! `domains`: customers' own short domains and their verification.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct DomainRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub domain: String,
    pub token: String,
    pub status: String,
    pub is_default: bool,
    pub error: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
    domain: &str,
    token: &str,
) -> Result<DomainRow, sqlx::Error> {
    sqlx::query_as!(
        DomainRow,
        "INSERT INTO domains (id, user_id, domain, token) VALUES ($1, $2, $3, $4) \
         RETURNING id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at",
        id,
        user_id,
        domain,
        token
    )
    .fetch_one(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<DomainRow>, sqlx::Error> {
    sqlx::query_as!(
        DomainRow,
        "SELECT id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at \
         FROM domains WHERE user_id = $1 ORDER BY created_at, id LIMIT 1000",
        user_id
    )
    .fetch_all(db)
    .await
}

/// The owner's domain; other tenants' ids read as absent.
pub async fn get(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<DomainRow>, sqlx::Error> {
    sqlx::query_as!(
        DomainRow,
        "SELECT id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at \
         FROM domains WHERE user_id = $1 AND id = $2",
        user_id,
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, user_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "DELETE FROM domains WHERE user_id = $1 AND id = $2",
        user_id,
        id
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Records a check's outcome: verified (`error` None) or not. A domain that was verified and
/// fails a check is `failing` (flagged, kept), one never verified stays `pending`.
pub async fn record_check(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: Option<&str>,
) -> Result<DomainRow, sqlx::Error> {
    sqlx::query_as!(
        DomainRow,
        r#"UPDATE domains SET checked_at = now(), error = $2,
             status = CASE WHEN $2::text IS NULL THEN 'verified'
                           WHEN verified_at IS NULL THEN 'pending' ELSE 'failing' END,
             verified_at = CASE WHEN $2::text IS NULL THEN COALESCE(verified_at, now()) ELSE verified_at END
           WHERE id = $1
           RETURNING id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at"#,
        id,
        error
    )
    .fetch_one(db)
    .await
}

/// Makes the domain the owner's default (and no other).
pub async fn set_default(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE domains SET is_default = false WHERE user_id = $1 AND is_default AND id <> $2",
        user_id,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE domains SET is_default = true WHERE user_id = $1 AND id = $2",
        user_id,
        id
    )
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// Whether `domain` is verified for some account (the TLS `ask`: certificates only for those).
pub async fn is_verified(db: impl PgExecutor<'_>, domain: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM domains WHERE domain = $1 AND status = 'verified') AS "v!""#,
        domain
    )
    .fetch_one(db)
    .await
}

/// The account's domains (the plan's `domains` limit counts them).
pub async fn count(conn: &mut sqlx::PgConnection, user_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM domains WHERE user_id = $1"#,
        user_id
    )
    .fetch_one(conn)
    .await
}
