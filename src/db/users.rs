use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Paged, Window};
use crate::domain::Role;

/// A [`UserRow`] from a query record with the user columns under their own names (a join's
/// record: `sessions::user_by_token_hash`, `api_keys::user_by_key_hash`).
macro_rules! user_from {
    ($r:expr) => {
        UserRow {
            id: $r.id,
            email: $r.email,
            name: $r.name,
            avatar_url: $r.avatar_url,
            provider: $r.provider,
            role: $r.role,
            password_hash: $r.password_hash,
            suspended_at: $r.suspended_at,
            created_at: $r.created_at,
            updated_at: $r.updated_at,
            email_verified_at: $r.email_verified_at,
        }
    };
}
pub(crate) use user_from;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub provider: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
}

pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub provider: &'a str,
    pub provider_id: Option<&'a str>,
    pub password_hash: Option<&'a str>,
}

pub async fn insert(db: impl PgExecutor<'_>, u: &NewUser<'_>) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as!(UserRow, "INSERT INTO users (id, email, name, avatar_url, provider, provider_id, password_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at", u.id, u.email, u.name, u.avatar_url, u.provider, u.provider_id, u.password_hash)
    .fetch_one(db)
    .await
}

pub async fn by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(UserRow, "SELECT " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at" + " \
         FROM users WHERE email = $1", email)
    .fetch_optional(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(UserRow, "SELECT " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at" + " \
         FROM users WHERE id = $1", id)
    .fetch_optional(db)
    .await
}

/// Whether an operator has suspended the account (its codes stop serving).
pub async fn is_suspended(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT suspended_at IS NOT NULL AS \"v!\" FROM users WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
    .map(|s| s.unwrap_or(false))
}

/// Row lock for a read-modify-write that is audited with its before image.
pub async fn by_id_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(UserRow, "SELECT " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at" + " \
         FROM users WHERE id = $1 FOR UPDATE", id)
    .fetch_optional(db)
    .await
}

pub async fn set_name(
    db: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as!(UserRow, "UPDATE users SET name = $2 WHERE id = $1 \
         RETURNING " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at", id, name)
    .fetch_one(db)
    .await
}

pub async fn set_password_hash(
    db: impl PgExecutor<'_>,
    id: Uuid,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        id,
        hash
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// Marks the address verified (a link sent to it was followed).
pub async fn mark_verified(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1",
        id
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// A new, verified address (the change was confirmed from it).
pub async fn set_email(db: impl PgExecutor<'_>, id: Uuid, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET email = $2, email_verified_at = now() WHERE id = $1",
        id,
        email
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// Admin changes: `None` leaves a field as it is.
pub async fn set_admin_fields(
    db: impl PgExecutor<'_>,
    id: Uuid,
    role: Option<Role>,
    suspended: Option<bool>,
) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as!(UserRow, "UPDATE users SET \
           role = COALESCE($2, role), \
           suspended_at = CASE WHEN $3::boolean IS NULL THEN suspended_at \
                               WHEN $3 THEN COALESCE(suspended_at, now()) ELSE NULL END \
         WHERE id = $1 \
         RETURNING " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at", id, role as _, suspended)
    .fetch_one(db)
    .await
}

pub async fn promote(db: impl PgExecutor<'_>, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(UserRow, "UPDATE users SET role = 'admin' WHERE email = $1 \
         RETURNING " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at", email)
    .fetch_optional(db)
    .await
}

/// Admin search: `q` matches e-mail or name, case-insensitively.
pub async fn search(
    db: &sqlx::PgPool,
    q: Option<&str>,
    w: Window,
) -> Result<Paged<UserRow>, sqlx::Error> {
    let pattern = q.map(|q| format!("%{}%", escape_like(q)));
    let items = sqlx::query_as!(UserRow, "SELECT " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at" + " \
         FROM users WHERE ($1::text IS NULL OR email ILIKE $1 OR name ILIKE $1) \
         ORDER BY created_at DESC, id LIMIT $2 OFFSET $3", pattern.as_deref(), w.limit, w.offset)
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar!("SELECT count(*) AS \"v!\" FROM users WHERE ($1::text IS NULL OR email ILIKE $1 OR name ILIKE $1)", pattern.as_deref())
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

/// Escapes `%`, `_` and `\` so user text is matched literally inside a LIKE pattern.
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn by_identity(
    db: impl PgExecutor<'_>,
    provider: &str,
    subject: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(UserRow, "SELECT u.id, u.email, u.name, u.avatar_url, u.provider, u.role AS \"role: Role\", u.password_hash, u.suspended_at, u.created_at, u.updated_at, u.email_verified_at \
         FROM user_identities i JOIN users u ON u.id = i.user_id \
         WHERE i.provider = $1 AND i.subject = $2", provider, subject)
    .fetch_optional(db)
    .await
}

pub async fn link_identity(
    db: impl PgExecutor<'_>,
    provider: &str,
    subject: &str,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO user_identities (provider, subject, user_id) VALUES ($1, $2, $3) \
         ON CONFLICT (provider, subject) DO NOTHING",
        provider,
        subject,
        user_id
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// Up to `limit` users created before `before`, with ids after `after`, in id order: keyset
/// pages for runs over every account.
pub async fn page_created_before(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    after: Uuid,
    limit: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as!(UserRow, "SELECT " + "id, email, name, avatar_url, provider, role AS \"role: Role\", password_hash, suspended_at, created_at, updated_at, email_verified_at" + " FROM users WHERE created_at < $1 AND id > $2 ORDER BY id LIMIT $3", before, after, limit)
    .fetch_all(db)
    .await
}

/// Files an account owns in storage (uploads, export archives), to remove after deletion.
pub async fn stored_files(db: impl PgExecutor<'_>, id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT storage_key AS \"v!\" FROM uploads WHERE user_id = $1 \
         UNION SELECT file_key FROM jobs WHERE user_id = $1 AND file_key IS NOT NULL",
        id
    )
    .fetch_all(db)
    .await
}

/// Erases an account: its codes are marked deleted and emptied (they answer 404), its outbox
/// mail is dropped, the Stripe customer id is kept in `deleted_accounts`, and the user row goes
/// (every table of personal data cascades with it; audit rows keep their ids, not the person).
pub async fn erase(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO deleted_accounts (user_id, stripe_customer_id) \
         SELECT $1, (SELECT stripe_customer_id FROM billing_accounts WHERE user_id = $1) \
         ON CONFLICT (user_id) DO NOTHING",
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM qr_type_details WHERE qr_id IN (SELECT id FROM qr_codes WHERE user_id = $1)",
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE qr_codes SET status = 'deleted', deleted_at = coalesce(deleted_at, now()), \
           name = NULL, target_url = NULL, design_json = NULL, rules = '[]', utm = '{}' \
         WHERE user_id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM outbound_emails WHERE user_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM users WHERE id = $1", id)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_escaping() {
        assert_eq!(super::escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
