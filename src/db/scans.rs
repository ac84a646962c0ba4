use chrono::NaiveDate;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// None: never seen; Some(false): begun but not committed; Some(true): done.
pub async fn batch_state(
    db: impl PgExecutor<'_>,
    batch_id: Uuid,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT committed FROM ingested_batches WHERE batch_id = $1",
        batch_id
    )
    .fetch_optional(db)
    .await
}

/// Notes that the batch's ClickHouse insert is about to happen.
pub async fn begin_batch(
    db: impl PgExecutor<'_>,
    batch_id: Uuid,
    events: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO ingested_batches (batch_id, events, committed) VALUES ($1, $2, false) \
         ON CONFLICT DO NOTHING",
        batch_id,
        events
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// Counts of one batch: scans per (owner, day) and per code.
pub struct BatchCounts {
    pub batch_id: Uuid,
    pub events: i32,
    pub per_owner_day: Vec<(Uuid, NaiveDate, i64)>,
    pub per_code: Vec<(Uuid, i64)>,
    /// Events set aside: (event id, reason, the event as received).
    pub rejected: Vec<(Uuid, String, serde_json::Value)>,
}

/// A code's scan count after a batch, and how many the batch added.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeTotal {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub name: Option<String>,
    pub short_code: String,
    pub scans_total: i64,
    pub added: i64,
}

/// Commits a begun batch and records its usage and `scans_total`, inside the caller's
/// transaction (which may record more of the batch's effects); answers the codes' new totals,
/// or `None` (changing nothing) if the batch was already committed.
pub async fn record_batch(
    tx: &mut PgConnection,
    c: &BatchCounts,
) -> Result<Option<Vec<CodeTotal>>, sqlx::Error> {
    let inserted = sqlx::query!("INSERT INTO ingested_batches (batch_id, events, committed) VALUES ($1, $2, true) \
         ON CONFLICT (batch_id) DO UPDATE SET committed = true WHERE NOT ingested_batches.committed", c.batch_id, c.events)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    // Usage is recorded keyed by this batch; the usage meter folds it into the daily counters.
    super::billing::record_scan_usage(tx, c.batch_id, &c.per_owner_day).await?;
    let (codes, counts): (Vec<Uuid>, Vec<i64>) = c.per_code.iter().copied().unzip();
    let totals = sqlx::query_as!(
        CodeTotal,
        r#"UPDATE qr_codes q SET scans_total = q.scans_total + u.n
           FROM UNNEST($1::uuid[], $2::bigint[]) AS u(id, n) WHERE q.id = u.id
           RETURNING q.id, q.user_id, q.name, q.short_code, q.scans_total, u.n AS "added!""#,
        &codes,
        &counts
    )
    .fetch_all(&mut *tx)
    .await?;
    // Scans of a day already rolled up (late, after an outage): the day reads raw again until
    // the next rollup run rebuilds it.
    let days: Vec<NaiveDate> = c.per_owner_day.iter().map(|(_, d, _)| *d).collect();
    sqlx::query!("DELETE FROM rollup_days WHERE date = ANY($1)", &days)
        .execute(&mut *tx)
        .await?;
    for (event_id, reason, event) in &c.rejected {
        sqlx::query!("INSERT INTO scan_dead_letters (event_id, batch_id, reason, event) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING", event_id, c.batch_id, reason, sqlx::types::Json(event) as _)
        .execute(&mut *tx)
        .await?;
    }
    Ok(Some(totals))
}
