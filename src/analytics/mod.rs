//! Analytics: scans from the queue into ClickHouse (`ingest`, its supervised `Ingestor` actor and
//! its queue handlers in `jobs`), and the reports read back from raw events and the aggregates
//! (`report`). Also the ClickHouse client and migrations shared with `crate::rollups`.

pub mod dimensions;
pub mod geo;
pub mod ingest;
pub mod jobs;
mod migrations;
pub mod report;

pub use migrations::migrate;

use secrecy::ExposeSecret;

use crate::config::Settings;

/// A client bound to the configured database. Validation is off because the schema check it does
/// relies on system tables that ClickHouse 18.16 lacks; the row round-trip tests cover the shapes.
pub fn client(settings: &Settings) -> clickhouse::Client {
    server_client(settings).with_database(&settings.clickhouse_database)
}

/// A client with no database selected, for creating the database itself.
fn server_client(settings: &Settings) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&settings.clickhouse_url)
        .with_user(&settings.clickhouse_user)
        .with_password(settings.clickhouse_password.expose_secret())
        .with_validation(false)
}

/// One cheap round trip, for readiness.
pub async fn ping(client: &clickhouse::Client) -> Result<(), clickhouse::error::Error> {
    client.query("SELECT 1").execute().await
}

/// Erases what identifies people in a deleted account's scans (address, agent, place); the
/// counts stay. A ClickHouse mutation: applied in the background by the server.
pub async fn anonymise_owner(
    client: &clickhouse::Client,
    owner: uuid::Uuid,
) -> Result<(), clickhouse::error::Error> {
    client
        .query(
            "ALTER TABLE scan_events UPDATE ip = '', user_agent = '', city = '', region = '', \
             referer = '' WHERE user_id = toUUID(?)",
        )
        .bind(owner.to_string())
        .execute()
        .await
}

/// One raw scan as its owner's data export lists it (`scans.csv`).
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
pub struct ScanLine {
    pub event_id: String,
    pub qr_id: String,
    pub short_code: String,
    /// `YYYY-MM-DD hh:mm:ss`, UTC.
    pub scanned_at: String,
    pub country: String,
    pub region: String,
    pub city: String,
    pub device_type: String,
    pub os: String,
    pub os_version: String,
    pub browser: String,
    pub browser_version: String,
    pub referer: String,
    pub is_bot: u8,
    /// Whole only where the owner turned IP anonymisation off; otherwise the truncated form.
    pub ip: String,
}

/// Every raw scan of an owner's codes still within retention, oldest first, as a cursor (an
/// account can have millions). Text columns are cast so the row shape does not depend on the
/// server's LowCardinality support.
pub fn owner_scans(
    client: &clickhouse::Client,
    owner: uuid::Uuid,
) -> Result<clickhouse::query::RowCursor<ScanLine>, clickhouse::error::Error> {
    client
        .query(
            "SELECT toString(event_id), toString(qr_id), short_code, \
             toString(scanned_at, 'UTC'), toString(country), region, \
             city, toString(device_type), toString(os), os_version, toString(browser), \
             browser_version, referer, is_bot, ip \
             FROM scan_events WHERE user_id = toUUID(?) ORDER BY scanned_at, event_id",
        )
        .bind(owner.to_string())
        .fetch::<ScanLine>()
}
