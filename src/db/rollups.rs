use chrono::{Datelike, NaiveDate};
use sqlx::PgExecutor;

/// Takes the day's rollup lock for the rest of the transaction.
pub async fn lock_day(db: impl PgExecutor<'_>, day: NaiveDate) -> Result<(), sqlx::Error> {
    // One key space per purpose: 'R' 'U' in the high bits, the day number below.
    let key = (0x5255_i64 << 32) | i64::from(day.num_days_from_ce());
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn record(db: impl PgExecutor<'_>, day: NaiveDate) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rollup_days (date) VALUES ($1) ON CONFLICT (date) DO UPDATE SET rolled_at = now()",
    )
    .bind(day)
    .execute(db)
    .await
    .map(|_| ())
}

/// The rolled-up days in [from, to).
pub async fn days_between(
    db: impl PgExecutor<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar("SELECT date FROM rollup_days WHERE date >= $1 AND date < $2 ORDER BY date")
        .bind(from)
        .bind(to)
        .fetch_all(db)
        .await
}

/// The first rolled-up day, if any.
pub async fn earliest(db: impl PgExecutor<'_>) -> Result<Option<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(date) FROM rollup_days")
        .fetch_one(db)
        .await
}
