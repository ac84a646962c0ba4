//! Postgres access. All SQL of the application lives in this module; callers pass a pool for
//! reads or a transaction (`&mut *tx`) for writes that must commit together with their audit row.
//!
//! Queries are checked at run time (`query_as::<_, Row>`) rather than with the `query!` macros:
//! the macros need a migrated database (or a committed `.sqlx` cache) at compile time, which the
//! `migrate` subcommand of this same binary cannot provide. The integration tests execute every
//! statement here against a real database instead.

pub mod abuse;
pub mod account_data;
pub mod account_tokens;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod catalog;
pub mod emails;
pub mod jobs;
pub mod notifications;
pub mod platform;
pub mod projects;
pub mod qr_codes;
pub mod rollups;
pub mod scans;
pub mod sessions;
pub mod settings;
pub mod statements;
pub mod templates;
pub mod totp;
pub mod uploads;
pub mod users;
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
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
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
