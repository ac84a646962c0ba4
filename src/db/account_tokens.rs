//! Single-use tokens sent by e-mail (password reset, address verification and change). Only
//! their SHA-256 is stored; using one marks it used in the same statement that finds it.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

pub struct NewToken<'a> {
    pub user_id: Uuid,
    pub purpose: &'a str,
    pub token_hash: &'a [u8],
    pub new_email: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(db: impl PgExecutor<'_>, t: &NewToken<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO account_tokens (id, user_id, purpose, token_hash, new_email, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        Uuid::now_v7(),
        t.user_id,
        t.purpose,
        t.token_hash,
        t.new_email,
        t.expires_at
    )
    .execute(db)
    .await
    .map(|_| ())
}

#[derive(Debug, sqlx::FromRow)]
pub struct Taken {
    pub user_id: Uuid,
    pub purpose: String,
    pub new_email: Option<String>,
}

/// Uses the live token with this hash (one of `purposes`): at most one caller ever gets it.
pub async fn take(
    db: impl PgExecutor<'_>,
    hash: &[u8],
    purposes: &[&str],
) -> Result<Option<Taken>, sqlx::Error> {
    sqlx::query_as!(
        Taken,
        "UPDATE account_tokens SET used_at = now() \
         WHERE token_hash = $1 AND purpose = ANY($2) AND used_at IS NULL AND expires_at > now() \
         RETURNING user_id, purpose, new_email",
        hash,
        purposes as _
    )
    .fetch_optional(db)
    .await
}

/// Retires a user's unused tokens of a purpose (a newer one was sent, or the password changed).
pub async fn retire(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    purpose: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE account_tokens SET used_at = now() \
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id,
        purpose
    )
    .execute(db)
    .await
    .map(|_| ())
}
