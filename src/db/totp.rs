//! Two-factor state of a user: the TOTP secret (pending or enabled), the last accepted step,
//! and recovery codes (hashes).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct TotpRow {
    pub totp_secret: Option<String>,
    pub totp_enabled_at: Option<DateTime<Utc>>,
    pub totp_last_step: Option<i64>,
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<TotpRow>, sqlx::Error> {
    sqlx::query_as!(
        TotpRow,
        "SELECT totp_secret, totp_enabled_at, totp_last_step FROM users WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(db)
    .await
}

/// A new pending secret (replacing a pending one; an enabled one is never replaced here).
pub async fn set_pending(
    db: impl PgExecutor<'_>,
    id: Uuid,
    secret: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE users SET totp_secret = $2, totp_last_step = NULL WHERE id = $1 AND totp_enabled_at IS NULL", id, secret)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn enable(db: impl PgExecutor<'_>, id: Uuid, step: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET totp_enabled_at = now(), totp_last_step = $2 WHERE id = $1",
        id,
        step
    )
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn accept_step(db: impl PgExecutor<'_>, id: Uuid, step: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET totp_last_step = $2 WHERE id = $1",
        id,
        step
    )
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn disable(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL WHERE id = $1", id)
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM recovery_codes WHERE user_id = $1", id)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

pub async fn replace_recovery_codes(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    hashes: &[Vec<u8>],
) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM recovery_codes WHERE user_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])",
        id,
        hashes
    )
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// Uses an unused recovery code; false when there is none with this hash.
pub async fn use_recovery_code(
    db: impl PgExecutor<'_>,
    id: Uuid,
    hash: &[u8],
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "UPDATE recovery_codes SET used_at = now() \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        id,
        hash
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}
