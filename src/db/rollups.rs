use chrono::{Datelike, NaiveDate};
use sqlx::PgExecutor;

/// Takes the day's rollup lock for the rest of the transaction.
pub async fn lock_day(db: impl PgExecutor<'_>, day: NaiveDate) -> Result<(), sqlx::Error> {
    // One key space per purpose: 'R' 'U' in the high bits, the day number below.
    let key = (0x5255_i64 << 32) | i64::from(day.num_days_from_ce());
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", key)
        .execute(db)
        .await
        .map(|_| ())
}

/// Records the day as rolled up now. The clock at the write, not the transaction's start: a
/// month rolled while this day waited for its lock must read as older than the day.
pub async fn record(db: impl PgExecutor<'_>, day: NaiveDate) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO rollup_days (date, rolled_at) VALUES ($1, clock_timestamp()) \
         ON CONFLICT (date) DO UPDATE SET rolled_at = clock_timestamp()",
        day
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// True when every day of the month [month, next) is rolled up and the month is not, or was
/// rolled before one of its days was rolled again.
pub async fn month_due(
    db: impl PgExecutor<'_>,
    month: NaiveDate,
    next: NaiveDate,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT (SELECT count(*) FROM rollup_days WHERE date >= $1 AND date < $2) = ($2 - $1)
             AND NOT EXISTS (
               SELECT 1 FROM rollup_months m WHERE m.month = $1 AND m.rolled_at >=
                 (SELECT max(rolled_at) FROM rollup_days WHERE date >= $1 AND date < $2))
           AS "due!""#,
        month,
        next
    )
    .fetch_one(db)
    .await
}

/// Records the month as rolled up now (under the locks of all its days).
pub async fn record_month(db: impl PgExecutor<'_>, month: NaiveDate) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO rollup_months (month, rolled_at) VALUES ($1, clock_timestamp()) \
         ON CONFLICT (month) DO UPDATE SET rolled_at = clock_timestamp()",
        month
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// The months lying whole in [from, to) whose monthly rows are current: every day of the month
/// rolled up, none since the month was.
pub async fn months_within(
    db: impl PgExecutor<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT m.month FROM rollup_months m \
         WHERE m.month >= $1 AND (m.month + interval '1 month')::date <= $2 \
           AND (SELECT count(*) FROM rollup_days d \
                WHERE d.date >= m.month AND d.date < (m.month + interval '1 month')::date \
                  AND d.rolled_at <= m.rolled_at) \
               = (m.month + interval '1 month')::date - m.month \
         ORDER BY m.month",
        from,
        to
    )
    .fetch_all(db)
    .await
}

/// The rolled-up days in [from, to).
pub async fn days_between(
    db: impl PgExecutor<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT date FROM rollup_days WHERE date >= $1 AND date < $2 ORDER BY date",
        from,
        to
    )
    .fetch_all(db)
    .await
}

/// The first rolled-up day, if any.
pub async fn earliest(db: impl PgExecutor<'_>) -> Result<Option<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar!("SELECT min(date) FROM rollup_days")
        .fetch_one(db)
        .await
}
