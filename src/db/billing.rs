//! Billing: accounts' plans and Stripe customers, subscriptions, Stripe events seen, metered
//! usage, usage alerts and notices, the credit ledger and Stripe meter reports.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub user_id: Uuid,
    pub plan_id: Option<String>,
    pub stripe_customer_id: Option<String>,
    /// Kept by the `qr_codes_counted` trigger.
    pub active_dynamic_codes: i32,
}

pub async fn account(
    db: impl PgExecutor<'_>,
    user: Uuid,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as!(
        AccountRow,
        "SELECT user_id, plan_id, stripe_customer_id, active_dynamic_codes FROM billing_accounts \
         WHERE user_id = $1",
        user
    )
    .fetch_optional(db)
    .await
}

/// The account's row, created if missing, locked until the transaction ends: every limit
/// check and credit movement of one account goes through this lock, one at a time.
pub async fn lock_account(conn: &mut PgConnection, user: Uuid) -> Result<AccountRow, sqlx::Error> {
    if let Some(row) = locked_account(&mut *conn, user).await? {
        return Ok(row);
    }
    sqlx::query!(
        "INSERT INTO billing_accounts (user_id) VALUES ($1) ON CONFLICT DO NOTHING",
        user
    )
    .execute(&mut *conn)
    .await?;
    locked_account(conn, user)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

async fn locked_account(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as!(
        AccountRow,
        "SELECT user_id, plan_id, stripe_customer_id, active_dynamic_codes FROM billing_accounts \
         WHERE user_id = $1 FOR UPDATE",
        user
    )
    .fetch_optional(conn)
    .await
}

/// An operator's plan for the account (`None`: back to the default).
pub async fn set_plan(
    conn: &mut PgConnection,
    user: Uuid,
    plan_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO billing_accounts (user_id, plan_id) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET plan_id = EXCLUDED.plan_id",
        user,
        plan_id
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn set_customer(
    conn: &mut PgConnection,
    user: Uuid,
    customer: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE billing_accounts SET stripe_customer_id = $2 WHERE user_id = $1",
        user,
        customer
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn user_by_customer(
    db: impl PgExecutor<'_>,
    customer: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT user_id FROM billing_accounts WHERE stripe_customer_id = $1",
        customer
    )
    .fetch_optional(db)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub stripe_id: Option<String>,
    pub plan_id: String,
    pub status: String,
    /// End of the current period.
    pub renew_at: Option<DateTime<Utc>>,
    pub interval: Option<String>,
    pub current_period_start: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub past_due_since: Option<DateTime<Utc>>,
    pub stripe_customer_id: Option<String>,
    pub stripe_price_id: Option<String>,
    pub stripe_created: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The account's subscriptions, newest first.
pub async fn subscriptions(
    db: impl PgExecutor<'_>,
    user: Uuid,
) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as!(SubscriptionRow, "SELECT " + "id, user_id, stripe_id, plan_id, status, renew_at, interval, current_period_start, \
         cancel_at_period_end, past_due_since, stripe_customer_id, stripe_price_id, stripe_created, \
         created_at, updated_at" + " FROM billing_subscriptions WHERE user_id = $1 \
         ORDER BY stripe_created DESC NULLS LAST, created_at DESC", user)
    .fetch_all(db)
    .await
}

pub async fn subscription_by_stripe_id(
    db: impl PgExecutor<'_>,
    stripe_id: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as!(SubscriptionRow, "SELECT " + "id, user_id, stripe_id, plan_id, status, renew_at, interval, current_period_start, \
         cancel_at_period_end, past_due_since, stripe_customer_id, stripe_price_id, stripe_created, \
         created_at, updated_at" + " FROM billing_subscriptions WHERE stripe_id = $1", stripe_id)
    .fetch_optional(db)
    .await
}

/// A subscription as Stripe describes it now.
pub struct SubscriptionState<'a> {
    pub user_id: Uuid,
    pub stripe_id: &'a str,
    pub stripe_customer_id: &'a str,
    pub plan_id: &'a str,
    pub status: &'a str,
    pub stripe_price_id: &'a str,
    pub interval: &'a str,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub stripe_created: DateTime<Utc>,
}

/// Writes the subscription's state; `past_due_since` is kept from the first `past_due` seen and
/// cleared by any other status.
pub async fn upsert_subscription(
    conn: &mut PgConnection,
    s: &SubscriptionState<'_>,
) -> Result<SubscriptionRow, sqlx::Error> {
    sqlx::query_as!(SubscriptionRow, "INSERT INTO billing_subscriptions (id, user_id, stripe_id, stripe_customer_id, plan_id, status, \
           stripe_price_id, interval, current_period_start, renew_at, cancel_at_period_end, stripe_created, past_due_since) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $6 = 'past_due' THEN now() END) \
         ON CONFLICT (stripe_id) DO UPDATE SET \
           user_id = EXCLUDED.user_id, stripe_customer_id = EXCLUDED.stripe_customer_id, \
           plan_id = EXCLUDED.plan_id, status = EXCLUDED.status, stripe_price_id = EXCLUDED.stripe_price_id, \
           interval = EXCLUDED.interval, current_period_start = EXCLUDED.current_period_start, \
           renew_at = EXCLUDED.renew_at, cancel_at_period_end = EXCLUDED.cancel_at_period_end, \
           stripe_created = EXCLUDED.stripe_created, \
           past_due_since = CASE WHEN EXCLUDED.status = 'past_due' \
             THEN COALESCE(billing_subscriptions.past_due_since, now()) END \
         RETURNING " + "id, user_id, stripe_id, plan_id, status, renew_at, interval, current_period_start, \
         cancel_at_period_end, past_due_since, stripe_customer_id, stripe_price_id, stripe_created, \
         created_at, updated_at", Uuid::now_v7(), s.user_id, s.stripe_id, s.stripe_customer_id, s.plan_id, s.status, s.stripe_price_id, s.interval, s.current_period_start, s.current_period_end, s.cancel_at_period_end, s.stripe_created)
    .fetch_one(conn)
    .await
}

/// Records a Stripe event; false when it was recorded before (a redelivery).
pub async fn record_event(
    conn: &mut PgConnection,
    id: &str,
    kind: &str,
    user: Option<Uuid>,
    created: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO stripe_events (id, type, user_id, created) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
        id,
        kind,
        user,
        created
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub async fn event_seen(db: impl PgExecutor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM stripe_events WHERE id = $1) AS \"v!\"",
        id
    )
    .fetch_one(db)
    .await
}

/// Records an export's usage once per key (in the transaction that marks it done). Codes are
/// counted by a trigger on `qr_codes`, scans by `record_scan_usage`.
pub async fn record_export_usage(
    conn: &mut PgConnection,
    key: &str,
    user: Uuid,
    day: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO usage_events (key, user_id, day, exports) VALUES ($1, $2, $3, 1) \
         ON CONFLICT DO NOTHING",
        key,
        user,
        day
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Records the scans of one ingested batch: one row per owner and day, keyed by the batch.
/// Owners that no longer exist are skipped.
pub async fn record_scan_usage(
    conn: &mut PgConnection,
    batch_id: Uuid,
    per_owner_day: &[(Uuid, NaiveDate, i64)],
) -> Result<(), sqlx::Error> {
    let (mut owners, mut days, mut n) = (Vec::new(), Vec::new(), Vec::new());
    for (o, d, k) in per_owner_day {
        owners.push(*o);
        days.push(*d);
        n.push(*k);
    }
    sqlx::query!("INSERT INTO usage_events (key, user_id, day, scans) \
         SELECT 'scans:' || $1::uuid::text || ':' || u.user_id::text || ':' || u.day::text, u.user_id, u.day, u.n \
         FROM UNNEST($2::uuid[], $3::date[], $4::bigint[]) AS u(user_id, day, n) \
         WHERE EXISTS (SELECT 1 FROM users WHERE id = u.user_id) \
         ON CONFLICT DO NOTHING", batch_id, &owners, &days, &n)
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct DayUsage {
    pub day: NaiveDate,
    pub scans: i64,
    pub codes: i64,
    pub exports: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingUsage {
    pub user_id: Uuid,
    pub day: NaiveDate,
    pub scans: i64,
    pub exports: i64,
}

/// Marks up to `limit` pending usage rows folded and answers their sums per account and day.
/// Rows another folder holds are skipped.
pub async fn take_pending_usage(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<PendingUsage>, sqlx::Error> {
    sqlx::query_as!(PendingUsage, "WITH picked AS ( \
           UPDATE usage_events SET folded_at = now() WHERE key IN ( \
             SELECT key FROM usage_events WHERE folded_at IS NULL ORDER BY created_at LIMIT $1 \
             FOR UPDATE SKIP LOCKED) \
           RETURNING user_id, day, scans, exports) \
         SELECT user_id, day, sum(scans)::bigint AS \"scans!\", sum(exports)::bigint AS \"exports!\" \
         FROM picked GROUP BY user_id, day ORDER BY user_id, day", limit)
    .fetch_all(conn)
    .await
}

/// Only one meter folds at a time, cluster-wide (over-quota counts depend on the order).
pub async fn try_fold_lock(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!("SELECT pg_try_advisory_xact_lock(7342001) AS \"v!\"")
        .fetch_one(conn)
        .await
}

/// Adds folded usage (scans, exports) to the day's counters.
pub async fn add_usage(
    conn: &mut PgConnection,
    user: Uuid,
    day: NaiveDate,
    u: &PendingUsage,
    over_quota: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO billing_usage (user_id, date, scans_used, exports, scans_over_quota) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id, date) DO UPDATE SET \
           scans_used = billing_usage.scans_used + EXCLUDED.scans_used, \
           exports = billing_usage.exports + EXCLUDED.exports, \
           scans_over_quota = billing_usage.scans_over_quota + EXCLUDED.scans_over_quota",
        user,
        day,
        u.scans,
        u.exports as i32,
        over_quota
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Folded usage of the days `from..to` (exclusive) summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Totals {
    pub scans: i64,
    pub codes: i64,
    pub exports: i64,
    pub scans_over_quota: i64,
}

pub async fn folded_totals(
    db: impl PgExecutor<'_>,
    user: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Totals, sqlx::Error> {
    sqlx::query_as!(Totals, "SELECT COALESCE(sum(scans_used), 0)::bigint AS \"scans!\", COALESCE(sum(qr_created), 0)::bigint AS \"codes!\", \
                COALESCE(sum(exports), 0)::bigint AS \"exports!\", \
                COALESCE(sum(scans_over_quota), 0)::bigint AS \"scans_over_quota!\" \
         FROM billing_usage WHERE user_id = $1 AND date >= $2 AND date < $3", user, from, to)
    .fetch_one(db)
    .await
}

/// Daily usage of `from..to` (exclusive), folded and still pending together: what a reader
/// sees is exact even before the meter has folded the latest scans.
pub async fn daily_usage(
    db: impl PgExecutor<'_>,
    user: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(DayUsage, i64)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        day: NaiveDate,
        scans: i64,
        codes: i64,
        exports: i64,
        over: i64,
    }
    let rows: Vec<Row> = sqlx::query_as!(Row, "SELECT day AS \"day!\", sum(scans)::bigint AS \"scans!\", sum(codes)::bigint AS \"codes!\", \
                sum(exports)::bigint AS \"exports!\", sum(over)::bigint AS \"over!\" FROM ( \
           SELECT date AS day, scans_used AS scans, qr_created::bigint AS codes, exports::bigint AS exports, \
                  scans_over_quota AS over \
           FROM billing_usage WHERE user_id = $1 AND date >= $2 AND date < $3 \
           UNION ALL \
           SELECT day, scans, 0::bigint, exports::bigint, 0 FROM usage_events \
           WHERE user_id = $1 AND folded_at IS NULL AND day >= $2 AND day < $3) u \
         GROUP BY day ORDER BY day", user, from, to)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                DayUsage {
                    day: r.day,
                    scans: r.scans,
                    codes: r.codes,
                    exports: r.exports,
                },
                r.over,
            )
        })
        .collect())
}

/// Deletes folded usage rows older than `before`: by then no redelivery of their cause can
/// come (queue retries end within minutes).
pub async fn prune_folded_usage(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    sqlx::query!("DELETE FROM usage_events WHERE folded_at < $1", before)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

// --- what the limit checks count: kept exact in the transaction of every change ---

/// Active dynamic codes (the `qr_codes_counted` trigger keeps the count).
pub async fn active_dynamic_codes(conn: &mut PgConnection, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("SELECT COALESCE((SELECT active_dynamic_codes FROM billing_accounts WHERE user_id = $1), 0)::bigint AS \"v!\"", user)
    .fetch_one(conn)
    .await
}

/// Codes created on the days `[from, to)`, deleted ones included (deleting does not give a
/// creation back); counted per day by the `qr_codes_counted` trigger.
pub async fn codes_created(
    conn: &mut PgConnection,
    user: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT COALESCE(sum(qr_created), 0)::bigint AS \"v!\" FROM billing_usage \
         WHERE user_id = $1 AND date >= $2 AND date < $3",
        user,
        from,
        to
    )
    .fetch_one(conn)
    .await
}

/// Exports asked for in `[from, to)` that have not failed or been cancelled.
pub async fn exports_requested(
    conn: &mut PgConnection,
    user: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM jobs WHERE user_id = $1 AND kind = 'export' \
         AND created_at >= $2 AND created_at < $3 AND status IN ('queued', 'running', 'succeeded')",
        user,
        from,
        to
    )
    .fetch_one(conn)
    .await
}

pub async fn projects(conn: &mut PgConnection, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM projects WHERE user_id = $1",
        user
    )
    .fetch_one(conn)
    .await
}

pub async fn live_api_keys(conn: &mut PgConnection, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
        user
    )
    .fetch_one(conn)
    .await
}

// --- notices that go out once ---

/// Claims the 80 %/100 % alert of a quota in a period; false when it was sent before.
pub async fn claim_alert(
    conn: &mut PgConnection,
    user: Uuid,
    period_start: NaiveDate,
    quota: &str,
    threshold: i32,
) -> Result<bool, sqlx::Error> {
    sqlx::query!("INSERT INTO usage_alerts (user_id, period_start, quota, threshold) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING", user, period_start, quota, threshold)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub async fn set_alert_email(
    conn: &mut PgConnection,
    user: Uuid,
    period_start: NaiveDate,
    quota: &str,
    threshold: i32,
    email: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE usage_alerts SET email_id = $5 \
         WHERE user_id = $1 AND period_start = $2 AND quota = $3 AND threshold = $4",
        user,
        period_start,
        quota,
        threshold,
        email
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Claims a one-off notice (kind, ref); false when it went out before.
pub async fn claim_notice(
    conn: &mut PgConnection,
    user: Uuid,
    kind: &str,
    reference: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query!("INSERT INTO billing_notices (user_id, kind, ref) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", user, kind, reference)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub async fn set_notice_email(
    conn: &mut PgConnection,
    user: Uuid,
    kind: &str,
    reference: &str,
    email: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE billing_notices SET email_id = $4 WHERE user_id = $1 AND kind = $2 AND ref = $3",
        user,
        kind,
        reference,
        email
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Subscriptions whose grace period ended before `cutoff` (still past due, or since moved to a
/// status without a plan), for the "your plan has ended" notice.
pub async fn grace_ended(
    db: impl PgExecutor<'_>,
    cutoff: DateTime<Utc>,
) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as!(SubscriptionRow, "SELECT " + "id, user_id, stripe_id, plan_id, status, renew_at, interval, current_period_start, \
         cancel_at_period_end, past_due_since, stripe_customer_id, stripe_price_id, stripe_created, \
         created_at, updated_at" + " FROM billing_subscriptions WHERE status IN ('past_due', 'unpaid') \
         AND past_due_since IS NOT NULL AND past_due_since < $1", cutoff)
    .fetch_all(db)
    .await
}

// --- credits ---

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct CreditRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub amount: i32,
    pub kind: String,
    pub reason: String,
    #[serde(skip)]
    pub key: String,
    pub quota: Option<String>,
    pub period_start: Option<NaiveDate>,
    pub expires_at: Option<DateTime<Utc>>,
    pub lot_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub struct NewCredit<'a> {
    pub user_id: Uuid,
    pub amount: i32,
    pub kind: &'a str,
    pub reason: &'a str,
    pub key: &'a str,
    pub quota: Option<&'a str>,
    pub period_start: Option<NaiveDate>,
    pub expires_at: Option<DateTime<Utc>>,
    pub lot_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
}

/// Appends an entry; `None` when its key was used before (the entry exists already).
pub async fn insert_credit(
    conn: &mut PgConnection,
    c: &NewCredit<'_>,
) -> Result<Option<CreditRow>, sqlx::Error> {
    sqlx::query_as!(CreditRow, "INSERT INTO credit_ledger (id, user_id, amount, kind, reason, key, quota, period_start, \
           expires_at, lot_id, actor_user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (key) DO NOTHING \
         RETURNING " + "id, user_id, amount, kind, reason, key, quota, period_start, expires_at, lot_id, actor_user_id, created_at", Uuid::now_v7(), c.user_id, c.amount, c.kind, c.reason, c.key, c.quota, c.period_start, c.expires_at, c.lot_id, c.actor_user_id)
    .fetch_optional(conn)
    .await
}

pub async fn credit_balance(db: impl PgExecutor<'_>, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT COALESCE(sum(amount), 0)::bigint AS \"v!\" FROM credit_ledger WHERE user_id = $1",
        user
    )
    .fetch_one(db)
    .await
}

/// The account's whole ledger, oldest first (for replaying lots at an expiry).
pub async fn credit_entries(
    db: impl PgExecutor<'_>,
    user: Uuid,
) -> Result<Vec<CreditRow>, sqlx::Error> {
    sqlx::query_as!(CreditRow, "SELECT " + "id, user_id, amount, kind, reason, key, quota, period_start, expires_at, lot_id, actor_user_id, created_at" + " FROM credit_ledger WHERE user_id = $1 ORDER BY created_at, id", user)
    .fetch_all(db)
    .await
}

/// A page of the ledger, newest first.
pub async fn credit_page(
    db: &sqlx::PgPool,
    user: Uuid,
    w: Window,
) -> Result<Paged<CreditRow>, sqlx::Error> {
    let items = sqlx::query_as!(CreditRow, "SELECT " + "id, user_id, amount, kind, reason, key, quota, period_start, expires_at, lot_id, actor_user_id, created_at" + " FROM credit_ledger WHERE user_id = $1 AND amount <> 0 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3", user, w.limit, w.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM credit_ledger WHERE user_id = $1 AND amount <> 0",
        user
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

/// Spends that paid for `quota` in the period starting `period_start`.
pub async fn spends_for(
    conn: &mut PgConnection,
    user: Uuid,
    quota: &str,
    period_start: NaiveDate,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM credit_ledger WHERE user_id = $1 AND kind = 'spend' \
         AND quota = $2 AND period_start = $3",
        user,
        quota,
        period_start
    )
    .fetch_one(conn)
    .await
}

/// Credits spent in `[from, to)`.
pub async fn credits_spent(
    db: impl PgExecutor<'_>,
    user: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("SELECT COALESCE(-sum(amount), 0)::bigint AS \"v!\" FROM credit_ledger WHERE user_id = $1 AND kind = 'spend' \
         AND created_at >= $2 AND created_at < $3", user, from, to)
    .fetch_one(db)
    .await
}

pub async fn credit_key_used(conn: &mut PgConnection, key: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM credit_ledger WHERE key = $1) AS \"v!\"",
        key
    )
    .fetch_one(conn)
    .await
}

/// Whether the account holds a lot past its expiry that has not been taken back.
pub async fn has_expired_lots(
    db: impl PgExecutor<'_>,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM credit_ledger l WHERE l.user_id = $1 AND l.expires_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM credit_ledger e WHERE e.lot_id = l.id)) AS \"v!\"",
        user,
        now
    )
    .fetch_one(db)
    .await
}

/// Accounts holding a lot that has expired and not been expired in the ledger yet.
pub async fn accounts_with_expired_lots(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT DISTINCT l.user_id FROM credit_ledger l WHERE l.expires_at <= $1 \
         AND NOT EXISTS (SELECT 1 FROM credit_ledger e WHERE e.lot_id = l.id)",
        now
    )
    .fetch_all(db)
    .await
}

// --- Stripe meter reports ---

/// Accounts with a live subscription whose plan meters overage, and the over-quota scans of
/// their current period not yet reported.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unreported {
    pub user_id: Uuid,
    pub stripe_customer_id: String,
    pub plan_id: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// Live subscriptions on one of `plans` (the metered ones), with their periods.
pub async fn metered_subscriptions(
    db: impl PgExecutor<'_>,
    plans: &[String],
) -> Result<Vec<Unreported>, sqlx::Error> {
    sqlx::query_as!(Unreported, "SELECT DISTINCT ON (s.user_id) s.user_id, s.stripe_customer_id AS \"stripe_customer_id!\", s.plan_id, \
                s.current_period_start AS \"period_start!\", s.renew_at AS \"period_end!\" \
         FROM billing_subscriptions s \
         WHERE s.plan_id = ANY($1) AND s.status IN ('active', 'trialing', 'past_due') \
           AND s.stripe_customer_id IS NOT NULL AND s.current_period_start IS NOT NULL \
           AND s.renew_at IS NOT NULL \
         ORDER BY s.user_id, s.stripe_created DESC NULLS LAST", plans)
    .fetch_all(db)
    .await
}

/// Over-quota scans reported (or about to be) since `since`.
pub async fn reported_since(
    conn: &mut PgConnection,
    user: Uuid,
    since: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("SELECT COALESCE(sum(quantity), 0)::bigint AS \"v!\" FROM meter_reports WHERE user_id = $1 AND hour >= $2", user, since)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MeterReport {
    pub user_id: Uuid,
    pub hour: DateTime<Utc>,
    pub event_name: String,
    pub stripe_customer_id: String,
    pub quantity: i64,
    pub identifier: String,
}

/// Writes the hour's report unless one exists (then the existing one stands).
pub async fn insert_meter_report(
    conn: &mut PgConnection,
    r: &MeterReport,
) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO meter_reports (user_id, hour, event_name, stripe_customer_id, quantity, identifier) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING", r.user_id, r.hour, &r.event_name, &r.stripe_customer_id, r.quantity, &r.identifier)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn unsent_meter_reports(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<MeterReport>, sqlx::Error> {
    sqlx::query_as!(MeterReport, "SELECT user_id, hour, event_name, stripe_customer_id, quantity, identifier FROM meter_reports \
         WHERE reported_at IS NULL ORDER BY created_at LIMIT $1", limit)
    .fetch_all(db)
    .await
}

pub async fn meter_report_done(
    db: impl PgExecutor<'_>,
    identifier: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE meter_reports SET reported_at = CASE WHEN $2::text IS NULL THEN now() END, last_error = $2 \
         WHERE identifier = $1", identifier, error)
    .execute(db)
    .await
    .map(|_| ())
}
