//! User-visible background jobs (exports, bulk creates): status for their owner, cancel, and
//! the admins' list of jobs with a retry for the dead ones. The job row in Postgres
//! (`crate::db::jobs`) is the truth; the queue only carries its id and run number.

use qrsaas_jobs::{BulkCreate, ExportAccount, ExportCodes};
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::db::{self, jobs::JobRow};
use crate::error::{ApiError, ApiResult};
use crate::notify::events::JobFailedData;
use crate::state::AppState;

/// Queues a run of the job; when the queue is unreachable the job is marked failed (an admin
/// can retry it) and the caller gets a 503.
pub async fn enqueue(state: &AppState, job: &JobRow) -> ApiResult<()> {
    let (id, run) = (job.id, job.runs);
    let sent = match job.kind.as_str() {
        "export" => state.queues.enqueue(ExportCodes { job_id: id, run }).await,
        // An import is a bulk create of its links (see `batch::imports`).
        "bulk_create" | crate::batch::imports::KIND => {
            state.queues.enqueue(BulkCreate { job_id: id, run }).await
        }
        crate::accounts::export::KIND => {
            state
                .queues
                .enqueue(ExportAccount { job_id: id, run })
                .await
        }
        other => Err(anyhow::anyhow!("unknown job kind {other}")),
    };
    if let Err(e) = sent {
        tracing::warn!(job_id = %id, error = %e, "job not enqueued");
        db::jobs::fail(&state.db, id, "the job queue is unavailable", true).await?;
        return Err(ApiError::Unavailable("queue"));
    }
    Ok(())
}

/// One run of a job by its worker: marks it running (a finished, cancelled or unknown job is
/// left alone), builds it, and records a failure — retried by the queue while attempts remain
/// (the error is returned), else kept as failed (dead) with its error.
pub async fn run(
    state: &AppState,
    job_id: Uuid,
    max_attempts: u32,
    build: impl AsyncFnOnce(&JobRow) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some(job) = db::jobs::start(&state.db, job_id).await? else {
        return Ok(());
    };
    let Err(e) = build(&job).await else {
        return Ok(());
    };
    let dead = job.attempts as u32 >= max_attempts;
    let error = format!("{e:#}");
    if !dead {
        db::jobs::fail(&state.db, job.id, &error, false).await?;
        return Err(e);
    }
    // Failed for good: the owner is told (e-mail, SMS, `job.failed`) in the same transaction.
    let mut tx = state.db.begin().await?;
    db::jobs::fail(&mut *tx, job.id, &error, true).await?;
    let data = JobFailedData {
        job_id: job.id,
        kind: job.kind.clone(),
        error: error.chars().take(500).collect(),
        attempts: job.attempts,
    };
    let pending = crate::notify::alerts::job_failed(&mut tx, state, job.user_id, &data).await?;
    tx.commit().await?;
    pending.dispatch(state).await;
    tracing::error!(job_id = %job.id, kind = %job.kind, error = %e, "job failed for good");
    Ok(())
}

/// A job as its owner (or an admin) sees it.
pub async fn job(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<JobRow> {
    let owner = (!p.is_admin()).then_some(p.user.id);
    db::jobs::get(&state.db, owner, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Cancels a queued or running job of the caller (any job for admins); 409 when it has
/// already finished.
pub async fn cancel(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
) -> ApiResult<JobRow> {
    let before = job(state, p, id).await?;
    let owner = (!p.is_admin()).then_some(p.user.id);
    let mut tx = state.db.begin().await?;
    let Some(after) = db::jobs::cancel(&mut *tx, owner, id).await? else {
        return Err(ApiError::Conflict {
            code: "job_finished",
            message: format!("the job is {}", before.status),
        });
    };
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::updated("job.cancel", "job", id, &before, &after),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Admins: jobs, newest first, optionally of one status (`failed` lists the dead ones).
pub async fn list(
    state: &AppState,
    status: Option<&str>,
    w: db::Window,
) -> ApiResult<db::Paged<JobRow>> {
    let (items, total) = tokio::try_join!(
        db::jobs::list(&state.db, status, w.limit, w.offset),
        db::jobs::count(&state.db, status)
    )?;
    Ok(db::Paged { items, total })
}

/// Admins: run a failed or cancelled job again, with fresh attempts.
pub async fn retry(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
) -> ApiResult<JobRow> {
    let before = db::jobs::get(&state.db, None, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let Some(after) = db::jobs::requeue(&mut *tx, id).await? else {
        return Err(ApiError::Conflict {
            code: "job_not_retryable",
            message: format!(
                "only failed or cancelled jobs are retried; this one is {}",
                before.status
            ),
        });
    };
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::updated("job.retry", "job", id, &before, &after),
    )
    .await?;
    tx.commit().await?;
    enqueue(state, &after).await?;
    Ok(after)
}
