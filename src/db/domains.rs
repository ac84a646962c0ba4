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
    /// Where the domain's root redirects (None: the 404 page).
    pub root_url: Option<String>,
    /// Where unknown codes on the domain redirect (None: the 404 page).
    pub not_found_url: Option<String>,
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
         RETURNING id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at, root_url, not_found_url",
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
        "SELECT id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at, root_url, not_found_url \
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
        "SELECT id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at, root_url, not_found_url \
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

/// The domain's status, its row locked until the transaction ends.
pub async fn lock_status(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT status FROM domains WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(db)
        .await
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
           RETURNING id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at, root_url, not_found_url"#,
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

/// Every domain that is served — verified, or failing (flagged, still served: a DNS blip must
/// not break printed codes) — with its owner: the redirect's host map.
pub async fn served(db: impl PgExecutor<'_>) -> Result<Vec<Served>, sqlx::Error> {
    sqlx::query_as!(
        Served,
        "SELECT domain, user_id, root_url, not_found_url FROM domains \
         WHERE status IN ('verified', 'failing') LIMIT 1000000"
    )
    .fetch_all(db)
    .await
}

/// A served domain as the redirect needs it.
pub struct Served {
    pub domain: String,
    pub user_id: Uuid,
    pub root_url: Option<String>,
    pub not_found_url: Option<String>,
}

/// Every domain redirect set: (domain id, which one, URL), for the blocklist's sweep.
pub async fn redirects(
    db: impl PgExecutor<'_>,
) -> Result<Vec<(Uuid, &'static str, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT id, root_url, not_found_url FROM domains \
         WHERE root_url IS NOT NULL OR not_found_url IS NOT NULL"
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .flat_map(|r| {
            [
                r.root_url.map(|u| (r.id, "root_url", u)),
                r.not_found_url.map(|u| (r.id, "not_found_url", u)),
            ]
        })
        .flatten()
        .collect())
}

/// Clears the named redirects (a blocklist entry caught them).
pub async fn clear_redirects(
    conn: &mut sqlx::PgConnection,
    roots: &[Uuid],
    not_founds: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE domains SET root_url = NULL WHERE id = ANY($1)",
        roots
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE domains SET not_found_url = NULL WHERE id = ANY($1)",
        not_founds
    )
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// Sets where the domain's root and unknown codes redirect.
pub async fn set_redirects(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
    root_url: Option<&str>,
    not_found_url: Option<&str>,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "UPDATE domains SET root_url = $3, not_found_url = $4 WHERE user_id = $1 AND id = $2",
        user_id,
        id,
        root_url,
        not_found_url
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// The owner's default domain, when it is verified (new dynamic codes use it).
pub async fn default_of(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM domains WHERE user_id = $1 AND is_default AND status = 'verified'",
        user_id
    )
    .fetch_optional(conn)
    .await
}

/// How many of the account's live codes use the domain.
pub async fn codes_using(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM qr_codes WHERE user_id = $1 AND domain_id = $2 AND status <> 'deleted'"#,
        user_id,
        id
    )
    .fetch_one(db)
    .await
}

/// Whether `domain` (any status: the HTTP check runs before verification) was given `token`.
pub async fn has_token(
    db: impl PgExecutor<'_>,
    domain: &str,
    token: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM domains WHERE domain = $1 AND token = $2) AS "v!""#,
        domain,
        token
    )
    .fetch_one(db)
    .await
}

/// Served domains last checked before `before` (or never), oldest first: the periodic re-check.
pub async fn due_for_check(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DomainRow>, sqlx::Error> {
    sqlx::query_as!(
        DomainRow,
        "SELECT id, user_id, domain, token, status, is_default, error, verified_at, checked_at, created_at, root_url, not_found_url \
         FROM domains WHERE status IN ('verified', 'failing') AND (checked_at IS NULL OR checked_at < $1) \
         ORDER BY checked_at NULLS FIRST, id LIMIT $2",
        before,
        limit
    )
    .fetch_all(db)
    .await
}
