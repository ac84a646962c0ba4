//! Queue consumers: one apalis worker per queue, registered from one table (`run`) with the
//! handler that lives beside the actor or service it feeds (`notify::jobs`, `analytics::jobs`,
//! `rollups`, …; see `crate::actors`). Maintenance tasks are dispatched here to their owners. Runs under an apalis `Monitor`, which on shutdown stops fetching
//! and waits (up to the grace period) for in-flight jobs; a job cut off by a crash is re-queued
//! by apalis-redis once its worker's heartbeat lapses.

use std::future::Future;
use std::time::Duration;

use actix::Addr;
use apalis::layers::WorkerBuilderExt;
use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::{BackoffRetryPolicy, HasherRng, RetryPolicy};
use apalis::prelude::*;
use chrono::Utc;
use qrsaas_jobs::{
    BulkCreate, DeliverWebhook, ExportAccount, ExportCodes, IngestScans, Job, Maintenance,
    MaintenanceTask, QUEUES, RollupDay, SendEmail, SendSms, SyncQrMetadata,
};
use tokio_util::sync::CancellationToken;

use crate::analytics::ingest::Ingestor;
use crate::analytics::jobs::Ingestion;
use crate::billing::meter::{ReportOverage, UsageMeter};
use crate::notify::Notifier;
use crate::queue::Queues;
use crate::rollups::{DropOldScans, Rollups};
use crate::state::AppState;
use crate::{analytics, db, notify, rollups};

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

/// The supervised actors the queue workers feed.
#[derive(Clone)]
pub struct Actors {
    pub notifier: Addr<Notifier>,
    pub ingestor: Addr<Ingestor>,
    pub rollups: Addr<Rollups>,
    pub meter: Addr<UsageMeter>,
}

#[derive(Clone)]
struct MaintenanceDeps {
    app: AppState,
    rollups: Addr<Rollups>,
    meter: Addr<UsageMeter>,
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
            let n = crate::batch::exports::clean_expired(&deps.app).await?;
            tracing::info!(deleted = n, "expired export files deleted");
        }
        MaintenanceTask::Statements => {
            let month = crate::billing::statements::previous_month(job.slot);
            let done = crate::billing::statements::run(&deps.app, &month).await?;
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
        MaintenanceTask::ApplySchedules => {
            let n = crate::codes::schedules::apply_due(&deps.app, Utc::now()).await?;
            if n > 0 {
                tracing::info!(applied = n, "scheduled changes applied");
            }
        }
        MaintenanceTask::RecheckDomains => {
            let n = crate::domains::recheck_due(&deps.app).await?;
            tracing::info!(checked = n, "custom domains re-checked");
        }
        MaintenanceTask::WeeklySummaries => {
            let sent = crate::notify::alerts::weekly(&deps.app, job.slot).await?;
            tracing::info!(sent, "weekly summaries sent");
        }
        MaintenanceTask::VacuumQueues => {
            let q = &deps.app.queues;
            let age = Duration::from_secs(deps.app.settings.queue_vacuum_after_secs);
            let mut n = 0;
            for queue in QUEUES {
                n += q.vacuum(queue, age).await?;
            }
            tracing::info!(
                deleted = n,
                "finished jobs' payloads vacuumed from the queues"
            );
        }
        MaintenanceTask::Retention => {
            let dropped = deps
                .rollups
                .send(DropOldScans {
                    months: deps.app.settings.scan_retention_months,
                    today: job.slot.date_naive(),
                })
                .await??;
            tracing::info!(?dropped, "raw scan partitions past retention dropped");
        }
        MaintenanceTask::Rollups => {
            crate::rollups::enqueue_due(&deps.app, job.slot).await?;
        }
    }
    Ok(())
}

/// Keeps a long Redis outage from turning into a restart spin. apalis asks `should_restart`
/// synchronously, on the monitor's task, so the pause cannot be awaited; `block_in_place` hands
/// this thread's other tasks to the rest of the runtime for its length, so no runtime thread
/// stalls. (A single-threaded runtime cannot do that: there the restart is immediate.)
fn pause_before_restart() {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        tokio::task::block_in_place(|| std::thread::sleep(RESTART_PAUSE));
    }
}

/// The monitor being built and the queues given a consumer so far. Each queue's consumer is
/// one `consume` call: its job type, the data its handler takes, how many of its jobs run at
/// once, and the handler (beside the actor it feeds, where it has one).
struct Consumers {
    monitor: Monitor,
    queues: Queues,
    /// This process's suffix for worker names: apalis-redis tracks in-flight jobs per worker
    /// name, so names must be unique per queue across processes.
    instance: String,
    consumed: Vec<&'static str>,
}

impl Consumers {
    fn consume<J, D, F, Fut>(
        mut self,
        data: D,
        concurrency: usize,
        handler: F,
    ) -> anyhow::Result<Consumers>
    where
        J: Job + Clone,
        D: Clone + Send + Sync + 'static,
        F: Fn(J, Data<D>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxDynError>> + Send + 'static,
    {
        let retry = retry_policy::<J>()?;
        let (queues, instance) = (self.queues.clone(), self.instance.clone());
        self.consumed.push(J::QUEUE);
        self.monitor = self.monitor.register(move |n| {
            WorkerBuilder::new(format!("{}-{instance}-{n}", J::QUEUE))
                .backend(queues.storage::<J>().poll_with_interval(POLL))
                .data(data.clone())
                .concurrency(concurrency)
                .retry(retry.clone())
                .build(handler.clone())
        });
        Ok(self)
    }

    /// The monitor, once every queue of [`QUEUES`] has exactly one consumer.
    fn complete(self) -> anyhow::Result<Monitor> {
        let mut consumed = self.consumed.clone();
        consumed.sort_unstable();
        let mut listed = QUEUES.to_vec();
        listed.sort_unstable();
        anyhow::ensure!(
            consumed == listed,
            "queues consumed {consumed:?} are not the queues listed {listed:?}"
        );
        Ok(self.monitor)
    }
}

/// Runs every queue's workers until `shutdown`, then drains them (for at most the configured
/// shutdown grace).
pub async fn run(app: AppState, actors: Actors, shutdown: CancellationToken) -> anyhow::Result<()> {
    let grace = Duration::from_secs(app.settings.shutdown_grace_secs);
    let deps = MaintenanceDeps {
        app: app.clone(),
        rollups: actors.rollups.clone(),
        meter: actors.meter.clone(),
    };
    let ingestion = Ingestion {
        ingestor: actors.ingestor.clone(),
        meter: actors.meter.clone(),
    };
    let notifier = actors.notifier;
    let consumers = Consumers {
        // A worker whose poll fails (Redis gone for a moment) ends; without a restart it would
        // stay dead after Redis returns and its queue would never drain.
        monitor: Monitor::new().should_restart(|worker, error| {
            metrics::counter!("worker_restarts_total").increment(1);
            tracing::warn!(worker = %worker.name(), %error, "queue worker failed; restarting");
            pause_before_restart();
            true
        }),
        queues: app.queues.clone(),
        instance: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        consumed: Vec::new(),
    };
    consumers
        .consume::<SendEmail, _, _, _>(notifier.clone(), 4, notify::jobs::send_email)?
        // Deliveries wait on receivers, not on this machine: many at once.
        .consume::<DeliverWebhook, _, _, _>(
            notifier.clone(),
            WEBHOOK_CONCURRENCY,
            notify::jobs::deliver_webhook,
        )?
        .consume::<SendSms, _, _, _>(notifier, 4, notify::jobs::send_sms)?
        .consume::<IngestScans, _, _, _>(ingestion, 4, analytics::jobs::ingest_scans)?
        .consume::<SyncQrMetadata, _, _, _>(actors.ingestor, 8, analytics::jobs::sync_metadata)?
        .consume::<RollupDay, _, _, _>(actors.rollups, 2, rollups::roll_up)?
        .consume::<Maintenance, _, _, _>(deps, 4, maintenance)?
        // Exports and bulk creates hold files and many rows in memory: a few at a time.
        .consume::<ExportCodes, _, _, _>(app.clone(), 2, crate::batch::exports::handle)?
        .consume::<ExportAccount, _, _, _>(app.clone(), 2, crate::accounts::export::handle)?
        .consume::<BulkCreate, _, _, _>(app, 2, crate::batch::bulk::handle)?
        .complete()?
        .shutdown_timeout(grace)
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("worker monitor: {e}"))
}
