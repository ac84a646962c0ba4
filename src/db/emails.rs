use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Extra message headers (List-Unsubscribe and the like), stored as a JSON object.
pub type Headers = sqlx::types::Json<std::collections::BTreeMap<String, String>>;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EmailRow {
    pub id: Uuid,
    pub kind: String,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub headers: Headers,
}

pub struct NewEmail<'a> {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub kind: &'a str,
    pub to_address: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: Option<&'a str>,
    /// Extra headers (`List-Unsubscribe` …), name → value.
    pub headers: &'a serde_json::Value,
}

pub async fn insert(db: impl PgExecutor<'_>, e: &NewEmail<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO outbound_emails (id, user_id, kind, to_address, subject, body_text, body_html, headers) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", e.id, e.user_id, e.kind, e.to_address, e.subject, e.body_text, e.body_html, sqlx::types::Json(e.headers) as _)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<EmailRow>, sqlx::Error> {
    sqlx::query_as!(
        EmailRow,
        "SELECT id, kind, to_address, subject, body_text, body_html, status, attempts, \
                headers AS \"headers: Headers\" \
         FROM outbound_emails WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn mark_sent(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE outbound_emails SET status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL \
         WHERE id = $1", id)
    .execute(db)
    .await
    .map(|_| ())
}

/// Records a failed attempt; after `give_up_after` attempts the row is marked failed for good.
pub async fn record_failure(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
    give_up_after: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE outbound_emails SET attempts = attempts + 1, last_error = $2, \
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

/// Pending e-mails never attempted since before `before`: their enqueue was lost.
pub async fn unattempted_before(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("SELECT id FROM outbound_emails WHERE status = 'pending' AND attempts = 0 AND created_at < $1 \
         ORDER BY created_at LIMIT $2", before, limit)
    .fetch_all(db)
    .await
}
