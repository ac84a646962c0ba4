//! The cron scheduler. It only enqueues: each run takes a Redis lock named after its task and
//! time slot, so however many schedulers run, one enqueues; the job's idempotency key (the same
//! task + slot) is the second guard.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use qrsaas_jobs::{Maintenance, MaintenanceTask};
use redis::aio::ConnectionManager;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::queue::Queues;

/// (cron expression with seconds, task)
const SCHEDULES: &[(&str, MaintenanceTask)] = &[
    ("0 7 * * * *", MaintenanceTask::PurgeSessions),
    ("0 */10 * * * *", MaintenanceTask::RequeueEmails),
    ("0 10 0 * * *", MaintenanceTask::Rollups),
    ("0 40 0 * * *", MaintenanceTask::Retention),
    ("0 20 * * * *", MaintenanceTask::CleanExports),
    ("0 30 1 1 * *", MaintenanceTask::Statements),
    ("0 */10 * * * *", MaintenanceTask::VacuumQueues),
    ("0 5 * * * *", MaintenanceTask::ReportUsage),
    ("0 50 0 * * *", MaintenanceTask::BillingDaily),
    ("30 * * * * *", MaintenanceTask::RequeueNotifications),
    // Every hour: Monday 08:00 comes at a different UTC hour in each time zone.
    ("0 0 * * * *", MaintenanceTask::WeeklySummaries),
    // Every 5 s: a scheduled change applies within seconds of its time.
    ("*/5 * * * * *", MaintenanceTask::ApplySchedules),
    // Hourly, each pass taking the domains not checked for a day.
    ("0 15 * * * *", MaintenanceTask::RecheckDomains),
];

/// The time slot a run belongs to, identical on every host: the minute, or for the tasks that
/// run several times a minute their own period.
fn slot_of(task: MaintenanceTask, now: DateTime<Utc>) -> DateTime<Utc> {
    let width = match task {
        MaintenanceTask::ApplySchedules => TimeDelta::seconds(5),
        _ => TimeDelta::minutes(1),
    };
    now.duration_trunc(width).unwrap_or(now)
}

/// Fired once when a scheduler starts, so runs missed while everything was down are caught up
/// (their handlers work out what is due from the state in Postgres).
const ON_START: &[MaintenanceTask] = &[MaintenanceTask::Rollups, MaintenanceTask::Statements];

#[derive(Clone)]
pub struct Scheduler {
    pub queues: Queues,
    pub redis: ConnectionManager,
    pub namespace: String,
}

impl Scheduler {
    /// Enqueues `task` for `slot` unless another scheduler already did; returns whether this one did.
    pub async fn fire(&self, task: MaintenanceTask, slot: DateTime<Utc>) -> anyhow::Result<bool> {
        let key = format!("{}:scheduler:{task:?}:{}", self.namespace, slot.timestamp());
        let mut redis = self.redis.clone();
        let won: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(std::process::id())
            .arg("NX")
            .arg("EX")
            // Long enough that a slow scheduler cannot take a slot already run; short for the
            // 5-second slots, which are many.
            .arg(if task == MaintenanceTask::ApplySchedules {
                600
            } else {
                24 * 3600
            })
            .query_async(&mut redis)
            .await?;
        if won.is_none() {
            return Ok(false);
        }
        self.queues.enqueue(Maintenance { task, slot }).await?;
        Ok(true)
    }

    /// Starts the cron loop; stop it with `JobScheduler::shutdown`.
    pub async fn start(self) -> anyhow::Result<JobScheduler> {
        let sched = JobScheduler::new().await?;
        for (cron, task) in SCHEDULES {
            let this = self.clone();
            let task = *task;
            sched
                .add(Job::new_async(*cron, move |_id, _l| {
                    let this = this.clone();
                    Box::pin(async move {
                        let slot = slot_of(task, Utc::now());
                        match this.fire(task, slot).await {
                            Ok(true) => tracing::info!(?task, %slot, "scheduled run enqueued"),
                            Ok(false) => tracing::debug!(?task, %slot, "another scheduler took this run"),
                            Err(e) => tracing::error!(?task, error = %e, "scheduled run could not be enqueued"),
                        }
                    })
                })?)
                .await?;
        }
        sched.start().await?;
        let slot = Utc::now()
            .duration_trunc(TimeDelta::minutes(1))
            .unwrap_or_else(|_| Utc::now());
        for task in ON_START {
            if let Err(e) = self.fire(*task, slot).await {
                tracing::error!(?task, error = %e, "catch-up run could not be enqueued");
            }
        }
        Ok(sched)
    }
}
