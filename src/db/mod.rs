//! Postgres access. All SQL of the application lives in this module; callers pass a pool for
//! reads or a transaction (`&mut *tx`) for writes that must commit together with their audit row.
//!
//! Statements are checked at compile time (`query!`, `query_as!`, `query_scalar!`): against a
//! migrated database when `DATABASE_URL` is set for the build and `SQLX_OFFLINE` is not, else
//! against the descriptions committed in `.sqlx/` (`.cargo/config.toml` makes offline the
//! default, so a build needs no database). `scripts/sqlx-prepare` rewrites `.sqlx/` after a
//! query or migration changes; CI fails when it is stale, so a renamed column breaks the build.
//! The one statement chosen at run time is an account export section's (`account_data`), each
//! of which the export test runs.

pub mod abuse;
pub mod account_data;
pub mod account_tokens;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod catalog;
pub mod domains;
pub mod emails;
pub mod jobs;
pub mod notifications;
pub mod platform;
pub mod projects;
pub mod qr_codes;
pub mod rollups;
pub mod scans;
pub mod schedules;
pub mod sessions;
pub mod settings;
pub mod statements;
pub mod templates;
pub mod totp;
pub mod uploads;
pub mod users;
pub mod versions;
pub mod webhooks;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::Settings;

pub async fn connect(settings: &Settings) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(settings.database_max_connections)
        // Fail fast: a request waiting longer than this is better answered with 503.
        .acquire_timeout(Duration::from_secs(5))
        .connect(settings.database_url.expose_secret())
        .await
}

/// Creates the configured database when the server has no such database yet (first start).
pub async fn create_database_if_missing(settings: &Settings) -> Result<(), sqlx::Error> {
    use sqlx::migrate::MigrateDatabase;
    let url = settings.database_url.expose_secret();
    if !sqlx::Postgres::database_exists(url).await? {
        tracing::info!("creating the Postgres database");
        sqlx::Postgres::create_database(url).await?;
    }
    Ok(())
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}

pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT 1 AS "one!""#)
        .fetch_one(pool)
        .await
        .map(|_| ())
}

/// True when `e` is a unique-constraint violation (SQLSTATE 23505).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// A page of a listing, with the total count of the whole result.
#[derive(Debug)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// `LIMIT`/`OFFSET` of one page.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}
