//! "Download my data": `POST /api/v1/me/export` queues a job that writes a ZIP of everything the
//! account holds — its profile, settings, codes, projects, products, keys and sessions (no
//! secrets), webhooks, billing records, audit trail, uploaded logos, and its raw scans — as JSON
//! and CSV, then e-mails a link. The download is the export download route, for its owner only,
//! until the file expires.
//!
//! One request at a time: asking while an export is queued or running answers that job. Like
//! every job, a redelivery rebuilds the file from scratch and a finished job is a no-op.

use chrono::{Duration, Utc};
use futures::TryStreamExt;
use qrsaas_jobs::{ExportAccount, Job};
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::analytics::report::csv_cell;
use crate::archive::{Packing, ZipSink};
use crate::db::{self, account_data, jobs::JobRow};
use crate::error::ApiResult;
use crate::state::AppState;

pub const KIND: &str = "account_export";

/// Queues an export of the caller's account, or answers the one already under way.
pub async fn request(state: &AppState, origin: &Origin, p: &Principal) -> ApiResult<JobRow> {
    let owner = p.user.id;
    let id = Uuid::now_v7();
    let total = account_data::SECTIONS.len() as i32 + 3;
    let mut tx = state.db.begin().await?;
    let Some(job) = db::jobs::insert_account_export(&mut tx, id, owner, total).await? else {
        let running = db::jobs::in_flight(&mut *tx, owner, KIND).await?;
        tx.commit().await?;
        // Lost a race with a job that has just finished: ask again.
        return match running {
            Some(job) => Ok(job),
            None => Box::pin(request(state, origin, p)).await,
        };
    };
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::event("account.export", "job", id),
    )
    .await?;
    tx.commit().await?;
    crate::batch::tasks::enqueue(state, &job).await?;
    Ok(job)
}

/// The `account_exports` queue's handler.
pub async fn handle(
    job: qrsaas_jobs::ExportAccount,
    app: apalis::prelude::Data<AppState>,
) -> Result<(), apalis::prelude::BoxDynError> {
    run(&app, job.job_id).await.map_err(Into::into)
}

/// One run of an account export (its worker calls this).
pub async fn run(state: &AppState, job_id: Uuid) -> anyhow::Result<()> {
    crate::batch::tasks::run(
        state,
        job_id,
        ExportAccount::RETRY.max_attempts,
        async |job| build(state, job).await,
    )
    .await
}

/// What the archive holds, in its README.
const README: &str = "\
Everything this qrsaas account holds, as of the time the export was made.

account.json, settings.json, ...   one JSON array per kind of record, each object one row as
                                   stored (secrets such as password and key hashes are left out)
qr_codes.csv                       the account's codes, one line each
scans.csv                          every scan of the account's codes still kept (times in UTC;
                                   addresses are truncated unless IP anonymisation was off)
uploads/                           uploaded logos
billing/                           plan, subscriptions, daily usage, statements, credits
audit_log.json                     what was done through this account, and from where
";

#[derive(Default)]
struct Counts {
    files: usize,
    codes: usize,
    scans: u64,
}

async fn build(state: &AppState, job: &JobRow) -> anyhow::Result<()> {
    let scratch = state.store.scratch_dir();
    tokio::fs::create_dir_all(&scratch).await?;
    // Named per attempt, like code exports: concurrent deliveries never share a file.
    let attempt = format!("{}-{}", job.id, job.attempts);
    let path = scratch.join(format!("account-{attempt}.zip"));
    let zip = ZipSink::create(path.clone());
    let written = write(state, job, &zip).await;
    let finished = zip.finish().await;
    let (counts, bytes) = match (written, finished) {
        (Ok(counts), Ok(bytes)) => (counts, bytes),
        (Err(e), _) | (_, Err(e)) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
    };
    let key = format!("exports/{}/account-{attempt}.zip", job.user_id);
    state.store.put_file(&key, &path).await?;
    let expires = Utc::now() + Duration::hours(state.settings.export_ttl_hours as i64);
    let result = serde_json::json!({
        "files": counts.files, "codes": counts.codes, "scans": counts.scans, "bytes": bytes,
    });
    let mut tx = state.db.begin().await?;
    if !db::jobs::succeed(&mut *tx, job.id, &result, Some(&key), Some(expires)).await? {
        // Cancelled meanwhile, or another delivery finished first.
        drop(tx);
        let _ = state.store.delete(&key).await;
        return Ok(());
    }
    let user = db::users::by_id(&mut *tx, job.user_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the account is gone"))?;
    let url = state
        .settings
        .public_url(&format!("/api/v1/exports/{}/download", job.id));
    let when = expires.format("%Y-%m-%d %H:%M UTC").to_string();
    let email =
        crate::notify::emails::account_export_ready(&mut tx, state, &user, &url, &when).await?;
    tx.commit().await?;
    crate::notify::emails::dispatch(state, email).await;
    Ok(())
}

/// Writes every entry; progress counts finished files.
async fn write(state: &AppState, job: &JobRow, zip: &ZipSink) -> anyhow::Result<Counts> {
    let user = job.user_id;
    let mut counts = Counts::default();
    let step = async |counts: &mut Counts| -> anyhow::Result<()> {
        counts.files += 1;
        db::jobs::progress(&state.db, job.id, counts.files as i32).await?;
        Ok(())
    };
    zip.entry("README.txt", Packing::Deflated, README).await?;
    for section in account_data::SECTIONS {
        zip.start(section.file, Packing::Deflated).await?;
        let mut rows = account_data::rows(&state.db, section, user);
        let mut first = true;
        while let Some(row) = rows.try_next().await? {
            let mut line = if first {
                b"[\n".to_vec()
            } else {
                b",\n".to_vec()
            };
            first = false;
            serde_json::to_writer(&mut line, &row)?;
            zip.write(line).await?;
        }
        zip.write(if first { &b"[]\n"[..] } else { &b"\n]\n"[..] })
            .await?;
        step(&mut counts).await?;
    }

    zip.start("qr_codes.csv", Packing::Deflated).await?;
    zip.write(
        "id,name,type,dynamic,short_code,short_url,target_url,status,project,scans,created_at\n",
    )
    .await?;
    let mut codes = account_data::code_lines(&state.db, user);
    while let Some(c) = codes.try_next().await? {
        let short_url = if c.dynamic {
            crate::codes::short_url(&state.settings, c.domain_host.as_deref(), &c.short_code)
        } else {
            String::new()
        };
        let line = [
            c.id.to_string(),
            csv_cell(c.name.as_deref().unwrap_or("")),
            c.qr_type,
            c.dynamic.to_string(),
            csv_cell(&c.short_code),
            csv_cell(&short_url),
            csv_cell(c.target_url.as_deref().unwrap_or("")),
            c.status,
            csv_cell(c.project.as_deref().unwrap_or("")),
            c.scans_total.to_string(),
            c.created_at.to_rfc3339(),
        ]
        .join(",");
        zip.write(line + "\n").await?;
        counts.codes += 1;
    }
    step(&mut counts).await?;

    for (id, key) in account_data::uploads(&state.db, user).await? {
        let bytes = state.store.get(&key).await?;
        zip.entry(format!("uploads/{id}.png"), Packing::Stored, bytes)
            .await?;
    }
    step(&mut counts).await?;

    // Scans last: ClickHouse being down fails this attempt, and the job is retried.
    zip.start("scans.csv", Packing::Deflated).await?;
    zip.write(
        "event_id,qr_id,short_code,scanned_at_utc,country,region,city,device,os,os_version,\
         browser,browser_version,referer,bot,ip\n",
    )
    .await?;
    let mut scans = crate::analytics::owner_scans(&state.clickhouse, user)?;
    let mut chunk = String::new();
    while let Some(s) = scans.next().await? {
        let line = [
            s.event_id,
            s.qr_id,
            csv_cell(&s.short_code),
            s.scanned_at,
            csv_cell(&s.country),
            csv_cell(&s.region),
            csv_cell(&s.city),
            csv_cell(&s.device_type),
            csv_cell(&s.os),
            csv_cell(&s.os_version),
            csv_cell(&s.browser),
            csv_cell(&s.browser_version),
            csv_cell(&s.referer),
            (s.is_bot != 0).to_string(),
            csv_cell(&s.ip),
        ]
        .join(",");
        chunk.push_str(&line);
        chunk.push('\n');
        counts.scans += 1;
        if chunk.len() >= 64 * 1024 {
            zip.write(std::mem::take(&mut chunk)).await?;
        }
    }
    zip.write(chunk).await?;
    step(&mut counts).await?;
    Ok(counts)
}
