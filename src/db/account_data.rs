//! What an account's data export reads from Postgres: one query per file of the archive, each
//! row as a JSON object.
//!
//! Rows are taken whole (`to_jsonb`) so a column added later is exported without anyone
//! remembering to; what must never leave — password and token hashes, the TOTP secret,
//! webhook signing secrets, store keys — is removed by name here, and the export test checks
//! that none of those values appears anywhere in the archive.

use futures::{Stream, StreamExt};
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

/// One JSON file of the export.
pub struct Section {
    pub file: &'static str,
    /// `$1` is the account's id; one JSON object per row.
    sql: &'static str,
}

pub const SECTIONS: &[Section] = &[
    Section {
        file: "account.json",
        sql: "SELECT to_jsonb(u) - ARRAY['password_hash', 'totp_secret', 'totp_last_step'] \
              FROM users u WHERE id = $1",
    },
    Section {
        file: "settings.json",
        sql: "SELECT to_jsonb(s) FROM user_settings s WHERE user_id = $1",
    },
    Section {
        file: "sign_in_identities.json",
        sql: "SELECT to_jsonb(i) FROM user_identities i WHERE user_id = $1 ORDER BY created_at",
    },
    Section {
        file: "sessions.json",
        sql: "SELECT to_jsonb(s) - 'token_hash' FROM sessions s WHERE user_id = $1 \
              ORDER BY created_at",
    },
    Section {
        file: "api_keys.json",
        sql: "SELECT to_jsonb(k) - 'key_hash' FROM api_keys k WHERE user_id = $1 \
              ORDER BY created_at",
    },
    Section {
        file: "projects.json",
        sql: "SELECT to_jsonb(p) FROM projects p WHERE user_id = $1 ORDER BY created_at",
    },
    Section {
        file: "qr_codes.json",
        sql: "SELECT to_jsonb(q) || jsonb_build_object('type_data', d.type_data) \
              FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id \
              WHERE q.user_id = $1 ORDER BY q.created_at, q.id",
    },
    Section {
        file: "qr_code_versions.json",
        sql: "SELECT to_jsonb(v) FROM qr_code_versions v JOIN qr_codes q ON q.id = v.qr_id \
              WHERE q.user_id = $1 ORDER BY v.qr_id, v.version",
    },
    Section {
        file: "templates.json",
        sql: "SELECT to_jsonb(t) FROM template_data t WHERE user_id = $1 ORDER BY created_at",
    },
    Section {
        file: "merchant.json",
        sql: "SELECT to_jsonb(m) FROM merchants m WHERE user_id = $1",
    },
    Section {
        file: "products.json",
        sql: "SELECT to_jsonb(p) FROM products p WHERE user_id = $1 ORDER BY created_at, id",
    },
    Section {
        file: "uploads.json",
        sql: "SELECT to_jsonb(u) - 'storage_key' FROM uploads u WHERE user_id = $1 \
              ORDER BY created_at",
    },
    Section {
        file: "webhook_endpoints.json",
        sql: "SELECT to_jsonb(w) - ARRAY['secret', 'previous_secret'] FROM webhook_endpoints w \
              WHERE user_id = $1 ORDER BY created_at",
    },
    Section {
        file: "phone.json",
        sql: "SELECT to_jsonb(p) - ARRAY['code_hash', 'code_expires_at', 'code_attempts'] \
              FROM user_phones p WHERE user_id = $1",
    },
    Section {
        file: "billing/account.json",
        sql: "SELECT to_jsonb(b) FROM billing_accounts b WHERE user_id = $1",
    },
    Section {
        file: "billing/subscriptions.json",
        sql: "SELECT to_jsonb(s) FROM billing_subscriptions s WHERE user_id = $1 \
              ORDER BY created_at",
    },
    Section {
        file: "billing/daily_usage.json",
        sql: "SELECT to_jsonb(u) FROM billing_usage u WHERE user_id = $1 ORDER BY date",
    },
    Section {
        file: "billing/statements.json",
        sql: "SELECT to_jsonb(s) FROM usage_statements s WHERE user_id = $1 ORDER BY month",
    },
    Section {
        file: "billing/credits.json",
        sql: "SELECT to_jsonb(c) FROM credit_ledger c WHERE user_id = $1 ORDER BY created_at",
    },
    Section {
        file: "jobs.json",
        sql: "SELECT to_jsonb(j) - 'file_key' FROM jobs j WHERE user_id = $1 ORDER BY created_at",
    },
    // What the account did, without the before/after images: an admin's entries describe
    // other people's accounts, which are not this account's data.
    Section {
        file: "audit_log.json",
        sql: "SELECT jsonb_build_object('id', id, 'action', action, 'entity_type', entity_type, \
              'entity_id', entity_id, 'api_key_id', api_key_id, 'ip', ip, \
              'created_at', created_at) \
              FROM audit_logs WHERE actor_user_id = $1 ORDER BY created_at",
    },
];

/// The rows of one section, streamed (an account may hold many thousands of codes).
pub fn rows<'a>(
    db: &'a PgPool,
    section: &'static Section,
    user_id: Uuid,
) -> impl Stream<Item = Result<serde_json::Value, sqlx::Error>> + Send + 'a {
    sqlx::query_scalar::<_, Json<serde_json::Value>>(section.sql)
        .bind(user_id)
        .fetch(db)
        .map(|r| r.map(|Json(v)| v))
}

/// The columns of `qr_codes.csv`, one row per code.
#[derive(Debug, sqlx::FromRow)]
pub struct CodeLine {
    pub id: Uuid,
    pub name: Option<String>,
    pub qr_type: String,
    pub dynamic: bool,
    pub short_code: String,
    pub target_url: Option<String>,
    pub status: String,
    pub scans_total: i64,
    pub project: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub domain_host: Option<String>,
}

pub fn code_lines(
    db: &PgPool,
    user_id: Uuid,
) -> impl Stream<Item = Result<CodeLine, sqlx::Error>> + Send + '_ {
    sqlx::query_as!(
        CodeLine,
        "SELECT q.id, q.name, q.qr_type, q.dynamic, q.short_code, q.target_url, q.status, \
                q.scans_total, p.name AS \"project?\", q.created_at, dm.domain AS \"domain_host?\" \
         FROM qr_codes q LEFT JOIN projects p ON p.id = q.project_id \
         LEFT JOIN domains dm ON dm.id = q.domain_id \
         WHERE q.user_id = $1 AND q.status <> 'deleted' ORDER BY q.created_at, q.id",
        user_id
    )
    .fetch(db)
}

/// The account's uploaded images: id and store key.
pub async fn uploads(db: &PgPool, user_id: Uuid) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query!(
        "SELECT id, storage_key FROM uploads WHERE user_id = $1 ORDER BY created_at",
        user_id
    )
    .map(|r| (r.id, r.storage_key))
    .fetch_all(db)
    .await
}
