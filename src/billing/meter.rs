//! The usage meter: a supervised actor that folds recorded usage into per-account daily
//! counters, finds scans over quota, pays for them with credits where the plan allows, tells
//! owners at 80 % and 100 % of each quota, and reports billable overage to Stripe's Billing
//! Meters every hour.
//!
//! Usage is recorded where it happens, in the transaction of its cause and keyed by it
//! (`usage_events`: a scan batch per owner and day, a code, an export), so a redelivered batch
//! or a re-run job counts once. The meter folds pending rows in batches — thousands of events
//! per statement, never an UPDATE per scan — every second and when ingestion nudges it. One
//! meter folds at a time cluster-wide (an advisory lock), since over-quota counts depend on the
//! order usage arrives in. Follows the pattern in `crate::actors`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message, ResponseFuture, Supervised};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Billing, Period, Standing, announce, credits, quota_use};
use crate::actors::MAILBOX_CAPACITY;
use crate::db::billing::{MeterReport, PendingUsage};
use crate::db::{self};
use crate::domain::plan::LimitName;
use crate::notify::Pending;
use crate::state::AppState;

/// How often the meter folds without being nudged.
const FOLD_EVERY: Duration = Duration::from_secs(1);
/// Pending rows folded per transaction.
const FOLD_BATCH: i64 = 10_000;
/// Scans per block paid with credits (the plan file's `scans_1000` rate).
const SCAN_BLOCK: i64 = 1000;

pub struct UsageMeter {
    app: AppState,
    /// A fold is under way in this process: a tick that finds one running skips.
    folding: Arc<AtomicBool>,
}

impl UsageMeter {
    pub fn new(app: AppState) -> UsageMeter {
        UsageMeter {
            app,
            folding: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Actor for UsageMeter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        ctx.run_interval(FOLD_EVERY, |_, ctx| ctx.notify(Fold));
    }
}

impl Supervised for UsageMeter {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.folding.store(false, Ordering::SeqCst);
    }
}

/// Fold pending usage now; answers the rows folded (0 when a fold was already running).
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, anyhow::Error>")]
pub struct Fold;

impl Handler<Fold> for UsageMeter {
    type Result = ResponseFuture<Result<usize, anyhow::Error>>;

    fn handle(&mut self, _: Fold, _: &mut Context<Self>) -> Self::Result {
        let (app, flag) = (self.app.clone(), self.folding.clone());
        Box::pin(async move {
            if flag.swap(true, Ordering::SeqCst) {
                return Ok(0);
            }
            let result = fold_all(&app).await;
            flag.store(false, Ordering::SeqCst);
            if let Err(e) = &result {
                tracing::warn!(error = %e, "usage fold failed; the next tick retries");
            }
            result
        })
    }
}

/// Report the current period's billable overage to Stripe (the hourly job).
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, anyhow::Error>")]
pub struct ReportOverage {
    pub at: DateTime<Utc>,
}

impl Handler<ReportOverage> for UsageMeter {
    type Result = ResponseFuture<Result<usize, anyhow::Error>>;

    fn handle(&mut self, m: ReportOverage, _: &mut Context<Self>) -> Self::Result {
        let app = self.app.clone();
        Box::pin(async move {
            fold_all(&app).await?;
            report_overage(&app, m.at).await
        })
    }
}

/// Folds until nothing is pending (or another meter holds the fold); answers the rows folded.
pub async fn fold_all(app: &AppState) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let (n, pending) = fold_once(app).await?;
        pending.dispatch(app).await;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// One batch: answers the (account, day) rows folded and the notices to dispatch.
async fn fold_once(app: &AppState) -> anyhow::Result<(usize, Pending)> {
    let now = Utc::now();
    let mut tx = app.db.begin().await?;
    if !db::billing::try_fold_lock(&mut tx).await? {
        return Ok((0, Pending::default()));
    }
    let pending = db::billing::take_pending_usage(&mut tx, FOLD_BATCH).await?;
    if pending.is_empty() {
        return Ok((0, Pending::default()));
    }
    let mut by_user: BTreeMap<Uuid, Vec<&PendingUsage>> = BTreeMap::new();
    for p in &pending {
        by_user.entry(p.user_id).or_default().push(p);
    }
    let mut mail = Pending::default();
    for (user, days) in by_user {
        mail.merge(fold_account(&mut tx, app, user, &days, now).await?);
    }
    tx.commit().await?;
    metrics::counter!("usage_rows_folded_total").increment(pending.len() as u64);
    Ok((pending.len(), mail))
}

/// Adds one account's pending days to its counters, with the scans beyond its quota; pays
/// for over-quota scan blocks with credits; claims the alerts now due.
async fn fold_account(
    tx: &mut PgConnection,
    app: &AppState,
    user: Uuid,
    days: &[&PendingUsage],
    now: DateTime<Utc>,
) -> anyhow::Result<Pending> {
    let billing: &Billing = &app.billing;
    let s = billing.standing_of(tx, user, now).await?;
    let period = s.period;
    let scan_quota = s.plan.limits.scans_per_month.map(|q| q as i64);
    let mut totals = db::billing::folded_totals(&mut *tx, user, period.start, period.end).await?;
    for d in days {
        // Late scans of an earlier period count without overage: that period is closed.
        let over = match scan_quota {
            Some(quota) if period.contains(d.day) => {
                (totals.scans + d.scans - quota.max(totals.scans)).max(0)
            }
            _ => 0,
        };
        db::billing::add_usage(tx, user, d.day, d, over).await?;
        if period.contains(d.day) {
            totals.scans += d.scans;
            totals.exports += d.exports;
            totals.scans_over_quota += over;
        }
    }
    if totals.scans_over_quota > 0 {
        cover_scans(tx, user, &s, totals.scans_over_quota).await?;
    }
    alerts(tx, app, user, &s, &totals).await
}

/// Pays for the started blocks of over-quota scans that credits have not paid for yet, while
/// the balance lasts.
async fn cover_scans(
    tx: &mut PgConnection,
    user: Uuid,
    s: &Standing<'_>,
    over: i64,
) -> anyhow::Result<()> {
    let Some(rate) = s.plan.credit_rates.scans_1000 else {
        return Ok(());
    };
    db::billing::lock_account(tx, user).await?;
    let quota = LimitName::ScansPerMonth.as_str();
    let paid = db::billing::spends_for(tx, user, quota, s.period.start).await?;
    let needed = (over + SCAN_BLOCK - 1) / SCAN_BLOCK;
    for block in paid..needed {
        let key = format!("scans:{user}:{}:{block}", s.period.start);
        let reason = "1,000 scans over quota";
        let ok = credits::spend(tx, user, rate, &key, LimitName::ScansPerMonth, s, reason)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if !ok {
            break;
        }
    }
    Ok(())
}

/// Claims the 80 %/100 % alerts of scans and exports the account has reached this period.
async fn alerts(
    tx: &mut PgConnection,
    app: &AppState,
    user: Uuid,
    s: &Standing<'_>,
    totals: &db::billing::Totals,
) -> anyhow::Result<Pending> {
    let mut mail = Pending::default();
    for (quota, limit, used) in quota_use(s.plan, totals) {
        // Codes are announced as they are admitted (`limits::admit`).
        if quota == LimitName::CodesPerMonth {
            continue;
        }
        let sent = announce(tx, app, user, s, quota, limit, used)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        mail.merge(sent);
    }
    Ok(mail)
}

/// Writes this hour's report of each metered subscription's billable overage (over-quota
/// scans not paid with credits, not reported yet), then sends every unsent report. A report
/// is written once per account and hour and sent with a deterministic identifier, so retries
/// and a second scheduler bill nothing twice. Answers the reports sent.
pub async fn report_overage(app: &AppState, at: DateTime<Utc>) -> anyhow::Result<usize> {
    let Ok(stripe) = app.billing.stripe() else {
        return Ok(0);
    };
    let hour = at.duration_trunc(TimeDelta::hours(1))?;
    let metered: Vec<String> = app
        .billing
        .catalogue
        .plans()
        .iter()
        .filter(|p| p.meter_event().is_some())
        .map(|p| p.id.clone())
        .collect();
    for sub in db::billing::metered_subscriptions(&app.db, &metered).await? {
        let Some(event) = app
            .billing
            .catalogue
            .get(&sub.plan_id)
            .and_then(|p| p.meter_event())
        else {
            continue;
        };
        let period = Period {
            start: sub.period_start.date_naive(),
            end: sub.period_end.date_naive(),
        };
        let mut tx = app.db.begin().await?;
        db::billing::lock_account(&mut tx, sub.user_id).await?;
        let over = db::billing::folded_totals(&mut *tx, sub.user_id, period.start, period.end)
            .await?
            .scans_over_quota;
        let quota = LimitName::ScansPerMonth.as_str();
        let blocks = db::billing::spends_for(&mut tx, sub.user_id, quota, period.start).await?;
        let billable = over - (blocks * SCAN_BLOCK).min(over);
        let reported = db::billing::reported_since(&mut tx, sub.user_id, period.start_at()).await?;
        if billable > reported {
            let report = MeterReport {
                user_id: sub.user_id,
                hour,
                event_name: event.to_owned(),
                stripe_customer_id: sub.stripe_customer_id.clone(),
                quantity: billable - reported,
                identifier: format!("qrsaas-{}-{}", sub.user_id, hour.format("%Y%m%d%H")),
            };
            db::billing::insert_meter_report(&mut tx, &report).await?;
        }
        tx.commit().await?;
    }
    let mut sent = 0;
    for r in db::billing::unsent_meter_reports(&app.db, 500).await? {
        let result = stripe
            .meter_event(
                &r.event_name,
                &r.stripe_customer_id,
                r.quantity,
                &r.identifier,
                r.hour,
            )
            .await;
        match result {
            Ok(()) => {
                db::billing::meter_report_done(&app.db, &r.identifier, None).await?;
                sent += 1;
            }
            Err(e) => {
                tracing::warn!(identifier = %r.identifier, error = %e, "meter report not sent; retried next hour");
                db::billing::meter_report_done(&app.db, &r.identifier, Some(&e.to_string()))
                    .await?;
            }
        }
    }
    Ok(sent)
}
