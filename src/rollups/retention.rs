//! Retention: raw scans are kept for `scan_retention_months`; older monthly partitions are
//! dropped (the aggregates keep their counts).

use chrono::{Datelike, NaiveDate};

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
