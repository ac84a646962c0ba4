//! The monthly rollup: a whole UTC month of `daily_aggregates` summed into `monthly_aggregates`
//! (and `owner_daily_aggregates` into `owner_monthly_aggregates`), so a report over a year reads
//! twelve rows per value instead of 365.
//!
//! A month is rolled once every one of its days is rolled up, right after its last day is (the
//! `RollDay` handler asks), and again whenever one of its days is rolled again (late scans).
//! Like a day it is rebuilt in staging tables and swapped in whole, so re-running gives
//! identical rows. It holds the rollup locks of all its days while it reads them, so no day of
//! the month changes under it; Postgres `rollup_months` then tells reports which months they
//! may read whole (`crate::db::rollups::months_within`).

use chrono::{Datelike, NaiveDate};
use sqlx::PgPool;

/// The first day of `day`'s month.
pub fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The first day of the month after `month`'s.
fn next_month(month: NaiveDate) -> NaiveDate {
    month_of(month) + chrono::Months::new(1)
}

/// Rebuilds `day`'s month in the monthly aggregates if it is due (every day rolled up, the month
/// not rolled since); answers whether it did.
pub async fn roll_month(
    ch: &clickhouse::Client,
    db: &PgPool,
    day: NaiveDate,
) -> anyhow::Result<bool> {
    let (month, next) = (month_of(day), next_month(day));
    if !crate::db::rollups::month_due(db, month, next).await? {
        return Ok(false);
    }
    let mut tx = db.begin().await?;
    // In day order, as every month takes them; a day's rollup takes only its own.
    for d in month.iter_days().take_while(|d| *d < next) {
        crate::db::rollups::lock_day(&mut *tx, d).await?;
    }
    // Another worker may have rolled it while this one waited.
    if !crate::db::rollups::month_due(&mut *tx, month, next).await? {
        return Ok(false);
    }
    let m = month.format("%Y-%m-%d").to_string();
    let n = next.format("%Y-%m-%d").to_string();
    let staging = [
        "monthly_aggregates_staging",
        "owner_monthly_aggregates_staging",
    ];
    let clear_staging = || async {
        for t in staging {
            ch.query(&format!("ALTER TABLE {t} DROP PARTITION '{m}'"))
                .execute()
                .await?;
        }
        Ok::<_, clickhouse::error::Error>(())
    };
    clear_staging().await?;
    ch.query(
        "INSERT INTO monthly_aggregates_staging (month, qr_id, user_id, project_id, dimension, value, scans, bot_scans, visitors, bot_visitors) \
         SELECT toDate(?) AS month, qr_id, any(user_id), project_id, dimension, value, sum(scans), sum(bot_scans), \
                uniqMergeState(visitors), uniqMergeState(bot_visitors) \
         FROM daily_aggregates WHERE date >= toDate(?) AND date < toDate(?) \
         GROUP BY qr_id, project_id, dimension, value",
    )
    .bind(m.as_str())
    .bind(m.as_str())
    .bind(n.as_str())
    .execute()
    .await?;
    ch.query(
        "INSERT INTO owner_monthly_aggregates_staging (month, user_id, project_id, dimension, value, scans, bot_scans, visitors, bot_visitors) \
         SELECT toDate(?) AS month, user_id, project_id, dimension, value, sum(scans), sum(bot_scans), \
                uniqMergeState(visitors), uniqMergeState(bot_visitors) \
         FROM owner_daily_aggregates WHERE date >= toDate(?) AND date < toDate(?) \
         GROUP BY user_id, project_id, dimension, value",
    )
    .bind(m.as_str())
    .bind(m.as_str())
    .bind(n.as_str())
    .execute()
    .await?;
    for t in ["monthly_aggregates", "owner_monthly_aggregates"] {
        ch.query(&format!(
            "ALTER TABLE {t} REPLACE PARTITION '{m}' FROM {t}_staging"
        ))
        .execute()
        .await?;
    }
    clear_staging().await?;
    crate::db::rollups::record_month(&mut *tx, month).await?;
    tx.commit().await?;
    metrics::counter!("rollup_months_total").increment(1);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_on_the_first() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(month_of(d("2026-11-30")), d("2026-11-01"));
        assert_eq!(next_month(d("2026-12-31")), d("2027-01-01"));
        assert_eq!(next_month(d("2028-02-01")), d("2028-03-01"));
    }
}
