//! The daily rollup: one UTC day of raw `scan_events` into `daily_aggregates` (per code: totals
//! and counts by country, city, device, OS, browser and referrer domain; humans and bots apart)
//! and from there into `owner_daily_aggregates` (the same per owner and project, for account
//! dashboards).
//!
//! Idempotent: the day is rebuilt from the raw events in staging tables and swapped in whole
//! (`REPLACE PARTITION`), so re-running a day (a retried job, a late catch-up, two schedulers)
//! gives identical rows, and reports never see the day half rebuilt. The day is then
//! recorded in Postgres `rollup_days`, which tells reports which days they may read from the
//! aggregates.

use chrono::{Datelike, NaiveDate};
use sqlx::PgPool;

/// Dimension values exactly as reports show them, so reading an aggregate needs no mapping.
pub const DIMENSIONS: &[(&str, &str)] = &[
    ("total", "''"),
    ("country", "if(country = '', 'unknown', toString(country))"),
    ("city", "if(city = '', 'unknown', city)"),
    ("device", "toString(device_type)"),
    ("os", "toString(os)"),
    ("browser", "toString(browser)"),
    ("referer", "if(referer = '', 'direct', domain(referer))"),
];

/// The `ARRAY JOIN` array that fans a scan event out into one (dimension, value) per dimension.
pub fn fan_out() -> String {
    let (names, values): (Vec<&str>, Vec<&str>) = DIMENSIONS.iter().copied().unzip();
    let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!(
        "arrayMap((n, v) -> (n, v), [{}], [{}])",
        names.join(", "),
        values.join(", ")
    )
}

/// Rebuilds `day` in the aggregates and records it as rolled up.
pub async fn roll_day(ch: &clickhouse::Client, db: &PgPool, day: NaiveDate) -> anyhow::Result<()> {
    // Two rollups of one day must not interleave (drop, drop, insert, insert doubles the day):
    // a Postgres advisory lock per day, held until the day is recorded, serialises them across
    // every worker process.
    let mut tx = db.begin().await?;
    crate::db::rollups::lock_day(&mut *tx, day).await?;
    let d = day.format("%Y-%m-%d").to_string();
    let fan_out = fan_out();
    // Built apart, then swapped in whole: readers see the old day or the new one, never a gap.
    let clear_staging = || async {
        for t in ["daily_aggregates_staging", "owner_daily_aggregates_staging"] {
            ch.query(&format!("ALTER TABLE {t} DROP PARTITION '{d}'"))
                .execute()
                .await?;
        }
        Ok::<_, clickhouse::error::Error>(())
    };
    clear_staging().await?;
    // One pass over the day: each event fans out to one row per dimension. Visitor states only
    // on the `total` rows: reports show uniques in total, and the states are the bulk of a row.
    ch.query(&format!(
        "INSERT INTO daily_aggregates_staging (date, qr_id, user_id, project_id, dimension, value, scans, bot_scans, visitors, bot_visitors) \
         SELECT toDate(?) AS date, qr_id, any(user_id), project_id, dim.1 AS dimension, dim.2 AS value, \
                countIf(is_bot = 0), countIf(is_bot = 1), \
                uniqStateIf(visitor_hash, is_bot = 0 AND dim.1 = 'total'), \
                uniqStateIf(visitor_hash, is_bot = 1 AND dim.1 = 'total') \
         FROM scan_events \
         ARRAY JOIN {fan_out} AS dim \
         WHERE scanned_at >= toDateTime(?) AND scanned_at < toDateTime(?) \
         GROUP BY qr_id, project_id, dimension, value"
    ))
    .bind(d.as_str())
    .bind(day_start(day).timestamp())
    .bind(day_start(day).timestamp() + 86_400)
    .execute()
    .await?;
    // The owners' totals of the day, from the codes' rows.
    ch.query(
        "INSERT INTO owner_daily_aggregates_staging (date, user_id, project_id, dimension, value, scans, bot_scans, visitors, bot_visitors) \
         SELECT date, user_id, project_id, dimension, value, sum(scans), sum(bot_scans), \
                uniqMergeStateIf(visitors, dimension = 'total'), uniqMergeStateIf(bot_visitors, dimension = 'total') \
         FROM daily_aggregates_staging WHERE date = toDate(?) \
         GROUP BY date, user_id, project_id, dimension, value",
    )
    .bind(d.as_str())
    .execute()
    .await?;
    for t in ["daily_aggregates", "owner_daily_aggregates"] {
        ch.query(&format!(
            "ALTER TABLE {t} REPLACE PARTITION '{d}' FROM {t}_staging"
        ))
        .execute()
        .await?;
    }
    clear_staging().await?;
    crate::db::rollups::record(&mut *tx, day).await?;
    tx.commit().await?;
    metrics::counter!("rollup_days_total").increment(1);
    Ok(())
}

/// Rolls up every day in [from, to], one after the other (the CLI's backfill).
pub async fn backfill(
    settings: &crate::config::Settings,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<usize> {
    let db = crate::db::connect(settings).await?;
    let ch = super::client(settings);
    let mut n = 0;
    for day in from.iter_days().take_while(|d| *d <= to) {
        roll_day(&ch, &db, day).await?;
        n += 1;
    }
    Ok(n)
}

/// The oldest month (YYYYMM) whose raw scans are kept when `months` are retained on `today`:
/// the current month counts as one.
pub fn first_kept_month(today: NaiveDate, months: u32) -> u32 {
    let index = today.year() * 12 + today.month0() as i32 - (months.max(1) as i32 - 1);
    (index / 12) as u32 * 100 + (index % 12) as u32 + 1
}

/// Drops raw scan partitions (monthly) older than the retention window. Whole partitions only:
/// dropping is instant and frees the disk at once, unlike a DELETE mutation.
pub async fn drop_old_scans(
    ch: &clickhouse::Client,
    database: &str,
    months: u32,
    today: NaiveDate,
) -> anyhow::Result<Vec<String>> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Part {
        partition: String,
    }
    let keep_from = first_kept_month(today, months);
    let parts = ch
        .query("SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = 'scan_events' AND active")
        .bind(database)
        .fetch_all::<Part>()
        .await?;
    let mut dropped = Vec::new();
    for p in parts {
        let Ok(month) = p.partition.trim_matches('\'').parse::<u32>() else {
            continue;
        };
        if month < keep_from {
            ch.query(&format!("ALTER TABLE scan_events DROP PARTITION {month}"))
                .execute()
                .await?;
            dropped.push(month.to_string());
        }
    }
    Ok(dropped)
}

/// 00:00 UTC on `day`.
pub fn day_start(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_window_counts_whole_months() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(first_kept_month(d("2026-11-22"), 25), 202411);
        assert_eq!(first_kept_month(d("2026-11-22"), 1), 202611);
        assert_eq!(first_kept_month(d("2026-01-05"), 2), 202512);
        assert_eq!(first_kept_month(d("2026-12-31"), 12), 202601);
    }
}
