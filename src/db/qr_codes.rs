use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QrRow {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub name: Option<String>,
    pub qr_type: String,
    pub dynamic: bool,
    pub short_code: String,
    pub target_url: Option<String>,
    pub design_json: Option<serde_json::Value>,
    pub status: String,
    pub custom_alias: bool,
    pub template_id: Option<Uuid>,
    pub product_id: Option<Uuid>,
    pub variant_id: Option<Uuid>,
    pub scans_total: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub rules: serde_json::Value,
    pub utm: serde_json::Value,
    /// Weighted targets `[{url, weight}]` of an A/B code; None for one target.
    pub targets: Option<serde_json::Value>,
    pub type_data: Option<serde_json::Value>,
    /// The custom domain its short URL uses (None: this service's host).
    pub domain_id: Option<Uuid>,
    pub domain_host: Option<String>,
}

pub struct NewQr<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Option<Uuid>,
    pub name: &'a str,
    pub qr_type: &'a str,
    pub dynamic: bool,
    pub short_code: &'a str,
    pub custom_alias: bool,
    pub target_url: Option<&'a str>,
    pub design: &'a serde_json::Value,
    pub template_id: Option<Uuid>,
    pub product_id: Option<Uuid>,
    pub variant_id: Option<Uuid>,
    pub rules: &'a serde_json::Value,
    pub utm: &'a serde_json::Value,
    pub targets: Option<&'a serde_json::Value>,
    pub type_data: &'a serde_json::Value,
    pub domain_id: Option<Uuid>,
}

pub async fn insert(conn: &mut sqlx::PgConnection, q: &NewQr<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO qr_codes (id, user_id, project_id, name, qr_type, dynamic, short_code, custom_alias, \
           target_url, design_json, template_id, product_id, variant_id, rules, utm, targets, domain_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)", q.id, q.user_id, q.project_id, q.name, q.qr_type, q.dynamic, q.short_code, q.custom_alias, q.target_url, Json(q.design) as _, q.template_id, q.product_id, q.variant_id, Json(q.rules) as _, Json(q.utm) as _, q.targets.map(Json) as _, q.domain_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO qr_type_details (qr_id, type_data) VALUES ($1, $2)",
        q.id,
        Json(q.type_data) as _
    )
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// The owner's code unless deleted; other tenants' ids read as absent.
pub async fn get(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<QrRow>, sqlx::Error> {
    sqlx::query_as!(QrRow, "SELECT q.id, q.user_id, q.project_id, q.name, q.qr_type, q.dynamic, q.short_code, q.target_url, \
         q.design_json, q.status, q.custom_alias, q.template_id, q.product_id, q.variant_id, q.scans_total, \
         q.created_at, q.updated_at, q.rules, q.utm, q.targets, d.type_data AS \"type_data?\", \
         q.domain_id, dm.domain AS \"domain_host?\" \
         FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id LEFT JOIN domains dm ON dm.id = q.domain_id " + "WHERE q.user_id = $1 AND q.id = $2 AND q.status <> 'deleted'", user_id, id)
    .fetch_optional(db)
    .await
}

/// A code in any state (deleted included), for copying it to analytics.
pub async fn any(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<QrRow>, sqlx::Error> {
    sqlx::query_as!(QrRow, "SELECT q.id, q.user_id, q.project_id, q.name, q.qr_type, q.dynamic, q.short_code, q.target_url, \
         q.design_json, q.status, q.custom_alias, q.template_id, q.product_id, q.variant_id, q.scans_total, \
         q.created_at, q.updated_at, q.rules, q.utm, q.targets, d.type_data AS \"type_data?\", \
         q.domain_id, dm.domain AS \"domain_host?\" \
         FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id LEFT JOIN domains dm ON dm.id = q.domain_id " + "WHERE q.id = $1", id)
        .fetch_optional(db)
        .await
}

/// Any code by short code, deleted ones excluded (they answer 404 like unknown codes).
pub async fn by_short_code(
    db: impl PgExecutor<'_>,
    code: &str,
) -> Result<Option<QrRow>, sqlx::Error> {
    sqlx::query_as!(QrRow, "SELECT q.id, q.user_id, q.project_id, q.name, q.qr_type, q.dynamic, q.short_code, q.target_url, \
         q.design_json, q.status, q.custom_alias, q.template_id, q.product_id, q.variant_id, q.scans_total, \
         q.created_at, q.updated_at, q.rules, q.utm, q.targets, d.type_data AS \"type_data?\", \
         q.domain_id, dm.domain AS \"domain_host?\" \
         FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id LEFT JOIN domains dm ON dm.id = q.domain_id " + "WHERE q.short_code = $1 AND q.status <> 'deleted'", code)
    .fetch_optional(db)
    .await
}

pub async fn get_for_update(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<QrRow>, sqlx::Error> {
    sqlx::query_as!(QrRow, "SELECT q.id, q.user_id, q.project_id, q.name, q.qr_type, q.dynamic, q.short_code, q.target_url, \
         q.design_json, q.status, q.custom_alias, q.template_id, q.product_id, q.variant_id, q.scans_total, \
         q.created_at, q.updated_at, q.rules, q.utm, q.targets, d.type_data AS \"type_data?\", \
         q.domain_id, dm.domain AS \"domain_host?\" \
         FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id LEFT JOIN domains dm ON dm.id = q.domain_id " + "WHERE q.user_id = $1 AND q.id = $2 AND q.status <> 'deleted' FOR UPDATE OF q", user_id, id)
    .fetch_optional(db)
    .await
}

pub struct QrFilter<'a> {
    pub project_id: Option<Uuid>,
    pub qr_type: Option<&'a str>,
    pub status: Option<&'a str>,
    pub q: Option<String>,
}

pub async fn list(
    db: &sqlx::PgPool,
    user_id: Uuid,
    f: &QrFilter<'_>,
    w: Window,
) -> Result<Paged<QrRow>, sqlx::Error> {
    let pattern =
        f.q.as_deref()
            .map(|q| format!("%{}%", super::users::escape_like(q)));
    let items = sqlx::query_as!(QrRow, "SELECT q.id, q.user_id, q.project_id, q.name, q.qr_type, q.dynamic, q.short_code, q.target_url, \
         q.design_json, q.status, q.custom_alias, q.template_id, q.product_id, q.variant_id, q.scans_total, \
         q.created_at, q.updated_at, q.rules, q.utm, q.targets, d.type_data AS \"type_data?\", \
         q.domain_id, dm.domain AS \"domain_host?\" \
         FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id LEFT JOIN domains dm ON dm.id = q.domain_id " + "WHERE q.user_id = $1 AND q.status <> 'deleted' \
           AND ($2::uuid IS NULL OR q.project_id = $2) AND ($3::text IS NULL OR q.qr_type = $3) \
           AND ($4::text IS NULL OR q.status = $4) AND ($5::text IS NULL OR q.name ILIKE $5) \
         ORDER BY q.created_at DESC, q.id LIMIT $6 OFFSET $7", user_id, f.project_id, f.qr_type, f.status, pattern.as_deref(), w.limit, w.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM qr_codes q WHERE q.user_id = $1 AND q.status <> 'deleted' \
           AND ($2::uuid IS NULL OR q.project_id = $2) AND ($3::text IS NULL OR q.qr_type = $3) \
           AND ($4::text IS NULL OR q.status = $4) AND ($5::text IS NULL OR q.name ILIKE $5)",
        user_id,
        f.project_id,
        f.qr_type,
        f.status,
        pattern.as_deref()
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

/// The mutable fields of a code, written whole (the capability merges a PATCH first).
pub struct QrUpdate<'a> {
    pub name: &'a str,
    pub project_id: Option<Uuid>,
    pub target_url: Option<&'a str>,
    pub design: &'a serde_json::Value,
    pub status: &'a str,
    pub product_id: Option<Uuid>,
    pub variant_id: Option<Uuid>,
    pub rules: &'a serde_json::Value,
    pub utm: &'a serde_json::Value,
    pub targets: Option<&'a serde_json::Value>,
    pub type_data: &'a serde_json::Value,
    pub domain_id: Option<Uuid>,
}

pub async fn update(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    u: &QrUpdate<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE qr_codes SET name = $2, project_id = $3, target_url = $4, design_json = $5, status = $6, \
           product_id = $7, variant_id = $8, rules = $9, utm = $10, targets = $11, domain_id = $12 WHERE id = $1", id, u.name, u.project_id, u.target_url, Json(u.design) as _, u.status, u.product_id, u.variant_id, Json(u.rules) as _, Json(u.utm) as _, u.targets.map(Json) as _, u.domain_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE qr_type_details SET type_data = $2 WHERE qr_id = $1",
        id,
        Json(u.type_data) as _
    )
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// Sets any tenant's code to `blocked` or back to `active` (admin); returns the code as it
/// was, or None if there is none.
pub async fn set_blocked(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    blocked: bool,
) -> Result<Option<QrRow>, sqlx::Error> {
    let before = sqlx::query_as!(QrRow, "SELECT q.id, q.user_id, q.project_id, q.name, q.qr_type, q.dynamic, q.short_code, q.target_url, \
         q.design_json, q.status, q.custom_alias, q.template_id, q.product_id, q.variant_id, q.scans_total, \
         q.created_at, q.updated_at, q.rules, q.utm, q.targets, d.type_data AS \"type_data?\", \
         q.domain_id, dm.domain AS \"domain_host?\" \
         FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id LEFT JOIN domains dm ON dm.id = q.domain_id " + "WHERE q.id = $1 AND q.status <> 'deleted' FOR UPDATE OF q", id)
    .fetch_optional(&mut *conn)
    .await?;
    if before.is_some() {
        sqlx::query!(
            "UPDATE qr_codes SET status = $2 WHERE id = $1",
            id,
            if blocked { "blocked" } else { "active" }
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(before)
}

pub async fn soft_delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE qr_codes SET status = 'deleted', deleted_at = now() WHERE id = $1",
        id
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// The owner's live codes among `ids`, or in `project_id`, in a stable order (for exports).
pub async fn for_export(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    ids: Option<&[Uuid]>,
    project_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<QrRow>, sqlx::Error> {
    sqlx::query_as!(QrRow, "SELECT q.id, q.user_id, q.project_id, q.name, q.qr_type, q.dynamic, q.short_code, q.target_url, \
         q.design_json, q.status, q.custom_alias, q.template_id, q.product_id, q.variant_id, q.scans_total, \
         q.created_at, q.updated_at, q.rules, q.utm, q.targets, d.type_data AS \"type_data?\", \
         q.domain_id, dm.domain AS \"domain_host?\" \
         FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id LEFT JOIN domains dm ON dm.id = q.domain_id " + "WHERE q.user_id = $1 AND q.status NOT IN ('deleted') \
           AND ($2::uuid[] IS NULL OR q.id = ANY($2)) AND ($3::uuid IS NULL OR q.project_id = $3) \
         ORDER BY q.created_at, q.id LIMIT $4", user_id, ids, project_id, limit)
    .fetch_all(db)
    .await
}
