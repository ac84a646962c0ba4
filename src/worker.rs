//! Queue consumers: one apalis worker per queue, each forwarding jobs to the actor that owns the
//! work (see `crate::actors`). Runs under an apalis `Monitor`, which on shutdown stops fetching
//! and waits (up to the grace period) for in-flight jobs; a job cut off by a crash is re-queued
//! by apalis-redis once its worker's heartbeat lapses.

use std::time::Duration;

use actix::Addr;
use apalis::layers::WorkerBuilderExt;
use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::{BackoffRetryPolicy, HasherRng, RetryPolicy};
use apalis::prelude::*;
use chrono::Utc;
use qrsaas_jobs::{
    BulkCreate, DeliverWebhook, ExportAccount, ExportCodes, IngestScans, Job, Maintenance,
    MaintenanceTask, RollupDay, SendEmail, SendSms, SyncQrMetadata,
};
use tokio_util::sync::CancellationToken;

use crate::analytics::ingest::{DropOldScans, Ingest, Ingestor, RollDay, SyncCode};
use crate::billing::meter::{Fold, ReportOverage, UsageMeter};
use crate::db;
use crate::notify::{Deliver, Hook, Notifier, Text};
use crate::queue::Queues;
use crate::state::AppState;

/// How often an idle worker looks for new jobs (apalis-redis otherwise waits for its heartbeat).
const POLL: Duration = Duration::from_millis(200);
/// Webhook deliveries in flight per process.
const WEBHOOK_CONCURRENCY: usize = 256;
/// Pause before a failed worker is restarted.
const RESTART_PAUSE: Duration = Duration::from_millis(250);

/// In-process retries with exponential backoff and jitter, per the job's policy.
fn retry_policy<J: Job>() -> anyhow::Result<BackoffRetryPolicy<ExponentialBackoff>> {
    let p = J::RETRY;
    let backoff =
        ExponentialBackoffMaker::new(p.base_delay, p.max_delay, 0.5, HasherRng::default())
            .map_err(|e| anyhow::anyhow!("backoff: {e}"))?
            .make_backoff();
    Ok(RetryPolicy::retries(p.max_attempts as usize).with_backoff(backoff))
}

async fn send_email(job: SendEmail, notifier: Data<Addr<Notifier>>) -> Result<(), BoxDynError> {
    match notifier.send(Deliver(job.email_id)).await {
        Ok(Ok(outcome)) => {
            tracing::debug!(email_id = %job.email_id, ?outcome, "e-mail job done");
            Ok(())
        }
        Ok(Err(e)) => Err(e.into()),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}

/// The supervised actors the queue workers feed.
#[derive(Clone)]
pub struct Actors {
    pub notifier: Addr<Notifier>,
    pub ingestor: Addr<Ingestor>,
    pub meter: Addr<UsageMeter>,
}

async fn deliver_webhook(
    job: DeliverWebhook,
    notifier: Data<Addr<Notifier>>,
) -> Result<(), BoxDynError> {
    match notifier.send(Hook(job)).await {
        Ok(r) => r.map_err(Into::into),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}

async fn send_sms(job: SendSms, notifier: Data<Addr<Notifier>>) -> Result<(), BoxDynError> {
    match notifier.send(Text(job.sms_id)).await {
        Ok(r) => r.map_err(Into::into),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}

async fn ingest_scans(job: IngestScans, actors: Data<Actors>) -> Result<(), BoxDynError> {
    let batch = job.batch_id;
    let result: Result<(), BoxDynError> = match actors.ingestor.send(Ingest(job)).await {
        Ok(Ok(_)) => {
            // The batch's usage is recorded; the meter folds it now rather than on its tick.
            actors.meter.do_send(Fold);
            Ok(())
        }
        Ok(Err(e)) => Err(e.into()),
        Err(mailbox) => Err(Box::new(mailbox)),
    };
    if let Err(e) = &result {
        metrics::counter!("scan_ingest_failures_total").increment(1);
        tracing::warn!(%batch, error = %e, "scan batch not ingested; will retry");
    }
    result
}

async fn sync_metadata(
    job: SyncQrMetadata,
    ingestor: Data<Addr<Ingestor>>,
) -> Result<(), BoxDynError> {
    match ingestor.send(SyncCode(job.qr_id)).await {
        Ok(r) => r.map_err(Into::into),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}

#[derive(Clone)]
struct MaintenanceDeps {
    app: AppState,
    ingestor: Addr<Ingestor>,
    meter: Addr<UsageMeter>,
}

/// Days a catch-up goes back at most; older gaps are for an operator's backfill (reports read
/// raw events for days that are not rolled up, so a gap is slower, never wrong).
const ROLLUP_CATCH_UP_DAYS: i64 = 31;

async fn export(job: ExportCodes, app: Data<AppState>) -> Result<(), BoxDynError> {
    crate::exports::run(&app, job.job_id)
        .await
        .map_err(|e| -> BoxDynError { e.into() })
}

async fn export_account(job: ExportAccount, app: Data<AppState>) -> Result<(), BoxDynError> {
    crate::accounts::export::run(&app, job.job_id)
        .await
        .map_err(|e| -> BoxDynError { e.into() })
}

async fn bulk_create(job: BulkCreate, app: Data<AppState>) -> Result<(), BoxDynError> {
    crate::bulk::run(&app, job.job_id)
        .await
        .map_err(|e| -> BoxDynError { e.into() })
}

async fn roll_up(job: RollupDay, ingestor: Data<Addr<Ingestor>>) -> Result<(), BoxDynError> {
    match ingestor.send(RollDay(job.date)).await {
        Ok(r) => r.map_err(Into::into),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}

/// Outbox e-mails never attempted this long after creation lost their enqueue.
const LOST_ENQUEUE_AFTER: chrono::Duration = chrono::Duration::minutes(15);

async fn maintenance(job: Maintenance, deps: Data<MaintenanceDeps>) -> Result<(), BoxDynError> {
    match job.task {
        MaintenanceTask::PurgeSessions => {
            let n = db::sessions::purge_dead(&deps.app.db).await?;
            tracing::info!(purged = n, "purged dead sessions");
        }
        MaintenanceTask::RequeueEmails => {
            let lost =
                db::emails::unattempted_before(&deps.app.db, Utc::now() - LOST_ENQUEUE_AFTER, 1000)
                    .await?;
            for email_id in &lost {
                deps.app
                    .queues
                    .enqueue(SendEmail {
                        email_id: *email_id,
                    })
                    .await?;
            }
            if !lost.is_empty() {
                tracing::warn!(
                    requeued = lost.len(),
                    "re-enqueued outbox e-mails whose enqueue was lost"
                );
            }
        }
        MaintenanceTask::CleanExports => {
            let n = crate::exports::clean_expired(&deps.app).await?;
            tracing::info!(deleted = n, "expired export files deleted");
        }
        MaintenanceTask::Statements => {
            let month = crate::statements::previous_month(job.slot);
            let done = crate::statements::run(&deps.app, &month).await?;
            tracing::info!(month = %month.month, written = done.written, emailed = done.emailed,
                "monthly usage statements written");
        }
        MaintenanceTask::ReportUsage => {
            let sent = deps.meter.send(ReportOverage { at: job.slot }).await??;
            tracing::info!(sent, "overage reported to Stripe");
        }
        MaintenanceTask::BillingDaily => {
            let done = crate::billing::daily(&deps.app, Utc::now()).await?;
            tracing::info!(?done, "billing's daily round done");
        }
        MaintenanceTask::RequeueNotifications => {
            crate::notify::requeue(&deps.app).await?;
        }
        MaintenanceTask::WeeklySummaries => {
            let sent = crate::notify::alerts::weekly(&deps.app, job.slot).await?;
            tracing::info!(sent, "weekly summaries sent");
        }
        MaintenanceTask::VacuumQueues => {
            let q = &deps.app.queues;
            let age = Duration::from_secs(deps.app.settings.queue_vacuum_after_secs);
            let n = q.vacuum::<IngestScans>(age).await?
                + q.vacuum::<SendEmail>(age).await?
                + q.vacuum::<SyncQrMetadata>(age).await?
                + q.vacuum::<RollupDay>(age).await?
                + q.vacuum::<ExportCodes>(age).await?
                + q.vacuum::<BulkCreate>(age).await?
                + q.vacuum::<Maintenance>(age).await?
                + q.vacuum::<DeliverWebhook>(age).await?
                + q.vacuum::<SendSms>(age).await?
                + q.vacuum::<ExportAccount>(age).await?;
            tracing::info!(
                deleted = n,
                "finished jobs' payloads vacuumed from the queues"
            );
        }
        MaintenanceTask::Retention => {
            let dropped = deps
                .ingestor
                .send(DropOldScans {
                    months: deps.app.settings.scan_retention_months,
                    today: job.slot.date_naive(),
                })
                .await??;
            tracing::info!(?dropped, "raw scan partitions past retention dropped");
        }
        MaintenanceTask::Rollups => {
            let yesterday = job.slot.date_naive() - chrono::Days::new(1);
            let recent = yesterday - chrono::Days::new(1);
            let oldest = yesterday - chrono::Duration::days(ROLLUP_CATCH_UP_DAYS - 1);
            // Every day since the first rollup (within the catch-up window) that is not rolled
            // up — missed while down, or un-rolled by late scans — plus the last two days
            // again. A fresh install starts with the last two days; older history reads raw.
            let start = db::rollups::earliest(&deps.app.db)
                .await?
                .map_or(recent, |first| first.max(oldest).min(recent));
            let rolled = db::rollups::days_between(&deps.app.db, start, recent).await?;
            let due: Vec<chrono::NaiveDate> = start
                .iter_days()
                .take_while(|d| *d <= yesterday)
                .filter(|d| *d >= recent || !rolled.contains(d))
                .collect();
            for day in &due {
                deps.app
                    .queues
                    .enqueue(RollupDay {
                        date: *day,
                        slot: job.slot,
                    })
                    .await?;
            }
            tracing::info!(days = due.len(), %start, "daily rollups enqueued");
        }
    }
    Ok(())
}

/// What every worker registration needs: the queues, and this process's suffix for worker
/// names (apalis-redis tracks in-flight jobs per worker name, so names must be unique per queue
/// across processes).
#[derive(Clone)]
struct Lane {
    queues: Queues,
    instance: String,
}

impl Lane {
    fn name<J: Job>(&self, n: usize) -> String {
        format!("{}-{}-{n}", J::QUEUE, self.instance)
    }
}

/// Runs every queue's workers until `shutdown`, then drains them (for at most the configured
/// shutdown grace).
pub async fn run(app: AppState, actors: Actors, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Actors {
        notifier,
        ingestor,
        meter,
    } = actors.clone();
    let grace = Duration::from_secs(app.settings.shutdown_grace_secs);
    let instance = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let email_retry = retry_policy::<SendEmail>()?;
    let maintenance_retry = retry_policy::<Maintenance>()?;
    let scans_retry = retry_policy::<IngestScans>()?;
    let sync_retry = retry_policy::<SyncQrMetadata>()?;
    let rollup_retry = retry_policy::<RollupDay>()?;
    let export_retry = retry_policy::<ExportCodes>()?;
    let bulk_retry = retry_policy::<BulkCreate>()?;
    let account_export_retry = retry_policy::<ExportAccount>()?;
    let webhook_retry = retry_policy::<DeliverWebhook>()?;
    let sms_retry = retry_policy::<SendSms>()?;
    let deps = MaintenanceDeps {
        app: app.clone(),
        ingestor: ingestor.clone(),
        meter,
    };
    let lane = Lane {
        queues: app.queues.clone(),
        instance,
    };
    Monitor::new()
        // A worker whose poll fails (Redis gone for a moment) ends; without a restart it would
        // stay dead after Redis returns and its queue would never drain. The pause keeps a
        // long outage from turning into a restart spin (this runs on the monitor's own task,
        // not on the HTTP workers).
        .should_restart(|worker, error| {
            metrics::counter!("worker_restarts_total").increment(1);
            tracing::warn!(worker = %worker.name(), %error, "queue worker failed; restarting");
            std::thread::sleep(RESTART_PAUSE);
            true
        })
        .register({
            let (l, notifier) = (lane.clone(), notifier.clone());
            move |n| {
                WorkerBuilder::new(l.name::<SendEmail>(n))
                    .backend(l.queues.storage::<SendEmail>().poll_with_interval(POLL))
                    .data(notifier.clone())
                    .concurrency(4)
                    .retry(email_retry.clone())
                    .build(send_email)
            }
        })
        .register({
            let (l, notifier) = (lane.clone(), notifier.clone());
            move |n| {
                WorkerBuilder::new(l.name::<DeliverWebhook>(n))
                    .backend(
                        l.queues
                            .storage::<DeliverWebhook>()
                            .poll_with_interval(POLL),
                    )
                    .data(notifier.clone())
                    // Deliveries wait on receivers, not on this machine: many at once.
                    .concurrency(WEBHOOK_CONCURRENCY)
                    .retry(webhook_retry.clone())
                    .build(deliver_webhook)
            }
        })
        .register({
            let (l, notifier) = (lane.clone(), notifier.clone());
            move |n| {
                WorkerBuilder::new(l.name::<SendSms>(n))
                    .backend(l.queues.storage::<SendSms>().poll_with_interval(POLL))
                    .data(notifier.clone())
                    .concurrency(4)
                    .retry(sms_retry.clone())
                    .build(send_sms)
            }
        })
        .register({
            let l = lane.clone();
            move |n| {
                WorkerBuilder::new(l.name::<Maintenance>(n))
                    .backend(l.queues.storage::<Maintenance>().poll_with_interval(POLL))
                    .data(deps.clone())
                    .retry(maintenance_retry.clone())
                    .build(maintenance)
            }
        })
        .register({
            let l = lane.clone();
            move |n| {
                WorkerBuilder::new(l.name::<IngestScans>(n))
                    .backend(l.queues.storage::<IngestScans>().poll_with_interval(POLL))
                    .data(actors.clone())
                    .concurrency(4)
                    .retry(scans_retry.clone())
                    .build(ingest_scans)
            }
        })
        .register({
            let (l, ingestor) = (lane.clone(), ingestor.clone());
            move |n| {
                WorkerBuilder::new(l.name::<SyncQrMetadata>(n))
                    .backend(
                        l.queues
                            .storage::<SyncQrMetadata>()
                            .poll_with_interval(POLL),
                    )
                    .data(ingestor.clone())
                    .retry(sync_retry.clone())
                    .build(sync_metadata)
            }
        })
        .register({
            let l = lane.clone();
            move |n| {
                WorkerBuilder::new(l.name::<RollupDay>(n))
                    .backend(l.queues.storage::<RollupDay>().poll_with_interval(POLL))
                    .data(ingestor.clone())
                    .retry(rollup_retry.clone())
                    .build(roll_up)
            }
        })
        .register({
            let (l, app) = (lane.clone(), app.clone());
            move |n| {
                WorkerBuilder::new(l.name::<ExportCodes>(n))
                    .backend(l.queues.storage::<ExportCodes>().poll_with_interval(POLL))
                    .data(app.clone())
                    .retry(export_retry.clone())
                    .build(export)
            }
        })
        .register({
            let (l, app) = (lane.clone(), app.clone());
            move |n| {
                WorkerBuilder::new(l.name::<ExportAccount>(n))
                    .backend(l.queues.storage::<ExportAccount>().poll_with_interval(POLL))
                    .data(app.clone())
                    .retry(account_export_retry.clone())
                    .build(export_account)
            }
        })
        .register(move |n| {
            WorkerBuilder::new(lane.name::<BulkCreate>(n))
                .backend(lane.queues.storage::<BulkCreate>().poll_with_interval(POLL))
                .data(app.clone())
                .retry(bulk_retry.clone())
                .build(bulk_create)
        })
        .shutdown_timeout(grace)
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("worker monitor: {e}"))
}
