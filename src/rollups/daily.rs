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

use chrono::NaiveDate;
use sqlx::PgPool;

use crate::analytics::dimensions::{day_start, fan_out};

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
    let ch = crate::analytics::client(settings);
    let mut n = 0;
    for day in from.iter_days().take_while(|d| *d <= to) {
        roll_day(&ch, &db, day).await?;
        super::roll_month(&ch, &db, day).await?;
        n += 1;
    }
    Ok(n)
}
