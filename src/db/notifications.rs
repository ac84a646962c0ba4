//! Alerts that go out once (scan milestones, weekly summaries), phone numbers and the SMS outbox.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Claims a code's milestone; false when it was announced before.
pub async fn claim_milestone(
    conn: &mut PgConnection,
    qr_id: Uuid,
    milestone: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO scan_milestones (qr_id, milestone) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        qr_id,
        milestone
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Accounts that turned the weekly summary on, with their time zone.
pub async fn weekly_subscribers(
    db: impl PgExecutor<'_>,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query!(
        "SELECT user_id, timezone FROM user_settings WHERE notifications -> 'weekly_summary' = 'true'::jsonb",
    )
    .map(|r| (r.user_id, r.timezone))
    .fetch_all(db)
    .await
}

pub async fn claim_weekly(
    conn: &mut PgConnection,
    user: Uuid,
    week_start: NaiveDate,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO weekly_summaries (user_id, week_start) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        user,
        week_start
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub async fn set_weekly_email(
    conn: &mut PgConnection,
    user: Uuid,
    week_start: NaiveDate,
    email: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE weekly_summaries SET email_id = $3 WHERE user_id = $1 AND week_start = $2",
        user,
        week_start,
        email
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Names of the owner's codes (deleted ones too: last week may have scanned them).
pub async fn code_names(
    conn: &mut PgConnection,
    user: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT id, name, short_code FROM qr_codes WHERE user_id = $1 AND id = ANY($2)",
        user,
        ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.id,
                r.name.filter(|n| !n.is_empty()).unwrap_or(r.short_code),
            )
        })
        .collect())
}

/// Turns one notification preference off (one-click unsubscribe).
pub async fn turn_off(conn: &mut PgConnection, user: Uuid, pref: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO user_settings (user_id, notifications) VALUES ($1, jsonb_build_object($2::text, false)) \
         ON CONFLICT (user_id) DO UPDATE SET notifications = \
           user_settings.notifications || jsonb_build_object($2::text, false)", user, pref)
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PhoneRow {
    pub user_id: Uuid,
    pub phone: String,
    pub code_hash: Option<Vec<u8>>,
    pub code_expires_at: Option<DateTime<Utc>>,
    pub code_attempts: i32,
    pub verified_at: Option<DateTime<Utc>>,
}

pub async fn phone(db: impl PgExecutor<'_>, user: Uuid) -> Result<Option<PhoneRow>, sqlx::Error> {
    sqlx::query_as!(
        PhoneRow,
        "SELECT user_id, phone, code_hash, code_expires_at, code_attempts, verified_at \
         FROM user_phones WHERE user_id = $1",
        user
    )
    .fetch_optional(db)
    .await
}

/// A number to verify (replacing any earlier one, verified or not) with its code's hash.
pub async fn set_phone(
    conn: &mut PgConnection,
    user: Uuid,
    phone: &str,
    code_hash: &[u8],
    expires: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO user_phones (user_id, phone, code_hash, code_expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET phone = $2, code_hash = $3, code_expires_at = $4, \
           code_attempts = 0, verified_at = NULL", user, phone, code_hash, expires)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn count_attempt(conn: &mut PgConnection, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE user_phones SET code_attempts = code_attempts + 1 WHERE user_id = $1",
        user
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn verify_phone(conn: &mut PgConnection, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE user_phones SET verified_at = now(), code_hash = NULL, code_expires_at = NULL \
         WHERE user_id = $1",
        user
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn delete_phone(conn: &mut PgConnection, user: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM user_phones WHERE user_id = $1", user)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SmsRow {
    pub id: Uuid,
    pub to_number: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
}

pub async fn insert_sms(
    conn: &mut PgConnection,
    user: Uuid,
    kind: &str,
    to: &str,
    body: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO outbound_sms (id, user_id, kind, to_number, body) VALUES ($1, $2, $3, $4, $5)",
        id,
        user,
        kind,
        to,
        body
    )
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn sms(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<SmsRow>, sqlx::Error> {
    sqlx::query_as!(
        SmsRow,
        "SELECT id, to_number, body, status, attempts FROM outbound_sms WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn sms_sent(
    db: impl PgExecutor<'_>,
    id: Uuid,
    provider_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE outbound_sms SET status = 'sent', sent_at = now(), attempts = attempts + 1, \
           provider_id = $2, last_error = NULL WHERE id = $1 AND status = 'pending'",
        id,
        provider_id
    )
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn sms_failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
    give_up_after: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE outbound_sms SET attempts = attempts + 1, last_error = $2, \
           status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE status END \
         WHERE id = $1 AND status = 'pending'",
        id,
        error,
        give_up_after
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// Pending SMS never attempted since before `before`: their job was lost.
pub async fn stranded_sms(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("SELECT id FROM outbound_sms WHERE status = 'pending' AND attempts = 0 AND created_at < $1 LIMIT 1000", before)
    .fetch_all(db)
    .await
}
