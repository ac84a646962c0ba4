//! Rollups: raw scans counted once a day into the aggregates that long report ranges read
//! (`daily`), whole months of those days summed once more (`monthly`), and raw scans past
//! retention dropped (`retention`).
//!
//! The supervised [`Rollups`] actor owns the ClickHouse client these writes go through; it is
//! fed by the `rollups` queue (one day per job, [`roll_up`]) and by the maintenance tasks that
//! plan the days due ([`enqueue_due`]) and apply retention.

mod daily;
mod monthly;
mod retention;

pub use daily::{backfill, roll_day};
pub use monthly::roll_month;
pub use retention::{drop_old_scans, first_kept_month};

use actix::{
    Actor, ActorFutureExt, Addr, Context, Handler, Message, ResponseActFuture, Supervised,
    WrapFuture,
};
use apalis::prelude::{BoxDynError, Data};
use chrono::{DateTime, NaiveDate, Utc};
use qrsaas_jobs::RollupDay;
use sqlx::PgPool;

use crate::actors::{MAILBOX_CAPACITY, stop_on_lost_connection};
use crate::config::Settings;
use crate::db;
use crate::state::AppState;

/// Days a catch-up goes back at most; older gaps are for an operator's backfill (reports read
/// raw events for days that are not rolled up, so a gap is slower, never wrong).
const CATCH_UP_DAYS: i64 = 31;

pub struct Rollups {
    settings: std::sync::Arc<Settings>,
    db: PgPool,
    ch: clickhouse::Client,
}

impl Rollups {
    pub fn new(app: &AppState) -> Rollups {
        Rollups {
            settings: app.settings.clone(),
            db: app.db.clone(),
            ch: crate::analytics::client(&app.settings),
        }
    }
}

impl Actor for Rollups {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Supervised for Rollups {
    fn restarting(&mut self, _: &mut Context<Self>) {
        metrics::counter!("actor_restarts_total", "actor" => "rollups").increment(1);
        tracing::warn!(actor = "rollups", "restarting with a new ClickHouse client");
        self.ch = crate::analytics::client(&self.settings);
    }
}

/// Rebuild one UTC day of the daily aggregates (see `daily`), then its month in the monthly
/// aggregates when the day completes it or changed it (see `monthly`).
#[derive(Message)]
#[rtype(result = "Result<(), anyhow::Error>")]
pub struct RollDay(pub NaiveDate);

impl Handler<RollDay> for Rollups {
    type Result = ResponseActFuture<Self, Result<(), anyhow::Error>>;

    fn handle(&mut self, RollDay(day): RollDay, _: &mut Context<Self>) -> Self::Result {
        let (ch, db) = (self.ch.clone(), self.db.clone());
        let work = async move {
            roll_day(&ch, &db, day).await?;
            roll_month(&ch, &db, day).await.map(|_| ())
        };
        Box::pin(work.into_actor(self).map(|result, _, ctx| {
            stop_on_lost_connection(ctx, &result);
            result
        }))
    }
}

/// Drop the monthly partitions of raw scans that end before the retention window; answers the
/// partitions dropped (YYYYMM).
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, anyhow::Error>")]
pub struct DropOldScans {
    pub months: u32,
    pub today: NaiveDate,
}

impl Handler<DropOldScans> for Rollups {
    type Result = ResponseActFuture<Self, Result<Vec<String>, anyhow::Error>>;

    fn handle(&mut self, m: DropOldScans, _: &mut Context<Self>) -> Self::Result {
        let (ch, database) = (self.ch.clone(), self.settings.clickhouse_database.clone());
        let work = async move { drop_old_scans(&ch, &database, m.months, m.today).await };
        Box::pin(work.into_actor(self).map(|result, _, ctx| {
            stop_on_lost_connection(ctx, &result);
            result
        }))
    }
}

/// The `rollups` queue's handler: one day, on the actor.
pub async fn roll_up(job: RollupDay, rollups: Data<Addr<Rollups>>) -> Result<(), BoxDynError> {
    match rollups.send(RollDay(job.date)).await {
        Ok(r) => r.map_err(Into::into),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}

/// Enqueues the days due at `slot`: every day since the first rollup (within the catch-up
/// window) that is not rolled up — missed while down, or un-rolled by late scans — plus the
/// last two days again. A fresh install starts with the last two days; older history reads
/// raw. Answers how many days were enqueued.
pub async fn enqueue_due(app: &AppState, slot: DateTime<Utc>) -> anyhow::Result<usize> {
    let yesterday = slot.date_naive() - chrono::Days::new(1);
    let recent = yesterday - chrono::Days::new(1);
    let oldest = yesterday - chrono::Duration::days(CATCH_UP_DAYS - 1);
    let start = db::rollups::earliest(&app.db)
        .await?
        .map_or(recent, |first| first.max(oldest).min(recent));
    let rolled = db::rollups::days_between(&app.db, start, recent).await?;
    let due: Vec<NaiveDate> = start
        .iter_days()
        .take_while(|d| *d <= yesterday)
        .filter(|d| *d >= recent || !rolled.contains(d))
        .collect();
    for day in &due {
        app.queues.enqueue(RollupDay { date: *day, slot }).await?;
    }
    tracing::info!(days = due.len(), %start, "daily rollups enqueued");
    Ok(due.len())
}
