//! Bulk export: a ZIP of one image per code plus `manifest.csv`, built by the `exports` worker and
//! kept in the store until it expires.
//!
//! The ZIP is written by a blocking thread to a scratch file (`crate::archive`) while codes are
//! rendered on the render pool a few at a time, so memory stays flat whatever the number of
//! codes; images are stored, not recompressed (PNG and PDF are compressed already). The job row in Postgres
//! (`crate::db::jobs`) carries state, progress and attempts: a redelivered job rebuilds the file
//! from scratch, a finished one is a no-op, a cancelled one stops at the next progress update.

use std::collections::HashSet;
use std::path::Path;

use chrono::{Duration, Utc};
use futures::StreamExt;
use qrsaas_jobs::{ExportCodes, Job};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::analytics::report::csv_cell;
use crate::archive::{Packing, ZipSink};
use crate::codes;
use crate::db::{self, jobs::JobRow};
use crate::error::{ApiError, ApiResult};
use crate::notify::events::{EventType, ExportCompletedData, emit};
use crate::render::Format;
use crate::state::AppState;

/// Most codes in one export.
pub const MAX_CODES: usize = 10_000;
/// Renders in flight at once: enough to keep every render thread busy.
const IN_FLIGHT: usize = 8;
/// Progress is written every this many codes (and checked for a cancel).
const PROGRESS_EVERY: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_ids: Option<Vec<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    pub format: Format,
    pub size: u32,
}

/// Checks the request and queues the export; answers the job.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    params: ExportParams,
) -> ApiResult<JobRow> {
    let owner = p.user.id;
    match (&params.qr_ids, params.project_id) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(ApiError::field(
                "qr_ids",
                "give either qr_ids or project_id",
            ));
        }
        (Some(ids), None) if ids.is_empty() || ids.len() > MAX_CODES => {
            return Err(ApiError::field(
                "qr_ids",
                format!("between 1 and {MAX_CODES} ids"),
            ));
        }
        (None, Some(pid)) if db::projects::get(&state.db, owner, pid).await?.is_none() => {
            return Err(ApiError::field("project_id", "no such project"));
        }
        _ => {}
    }
    let rows = db::qr_codes::for_export(
        &state.db,
        owner,
        params.qr_ids.as_deref(),
        params.project_id,
        MAX_CODES as i64 + 1,
    )
    .await?;
    if let Some(ids) = &params.qr_ids {
        let found: HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
        if let Some(missing) = ids.iter().find(|id| !found.contains(id)) {
            // Another tenant's id is as unknown as a made-up one.
            return Err(ApiError::field(
                "qr_ids",
                format!("no such code: {missing}"),
            ));
        }
    }
    if rows.is_empty() {
        return Err(ApiError::field("project_id", "the project has no codes"));
    }
    if rows.len() > MAX_CODES {
        return Err(ApiError::field(
            "project_id",
            format!("more than {MAX_CODES} codes: export by qr_ids in parts"),
        ));
    }
    let id = Uuid::now_v7();
    let json = serde_json::to_value(&params).map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    let ask = crate::billing::limits::Ask::Export { job_id: id };
    // Exports are announced by the usage meter when they complete.
    let _ = crate::billing::limits::admit(&mut tx, state, owner, ask, Utc::now()).await?;
    let job = db::jobs::insert(&mut *tx, id, owner, "export", &json, rows.len() as i32).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created("export.create", "job", id, &job),
    )
    .await?;
    tx.commit().await?;
    crate::batch::tasks::enqueue(state, &job).await?;
    Ok(job)
}

/// A file name from the code's name: safe characters only, unique within the archive, never
/// starting with a character a spreadsheet reads as a formula (`=`, `+`, `-`, `@`), so the
/// manifest's `file` column needs no neutralising and names the ZIP entry exactly.
pub fn file_name(name: &str, ext: &str, taken: &mut HashSet<String>) -> String {
    let mut base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches(['_', '.'])
        .trim_start_matches(['-', '_', '.'])
        .chars()
        .take(60)
        .collect();
    if base.is_empty() {
        base = "code".into();
    }
    let mut candidate = format!("{base}.{ext}");
    let mut n = 2;
    while !taken.insert(candidate.to_ascii_lowercase()) || candidate == "manifest.csv" {
        candidate = format!("{base}-{n}.{ext}");
        n += 1;
    }
    candidate
}

/// The `exports` queue's handler.
pub async fn handle(
    job: qrsaas_jobs::ExportCodes,
    app: apalis::prelude::Data<AppState>,
) -> Result<(), apalis::prelude::BoxDynError> {
    run(&app, job.job_id).await.map_err(Into::into)
}

/// One run of an export job (the `exports` worker calls this).
pub async fn run(state: &AppState, job_id: Uuid) -> anyhow::Result<()> {
    crate::batch::tasks::run(
        state,
        job_id,
        ExportCodes::RETRY.max_attempts,
        async |job| build(state, job).await,
    )
    .await
}

/// Builds the ZIP and marks the job succeeded; a job cancelled meanwhile ends without a file.
async fn build(state: &AppState, job: &JobRow) -> anyhow::Result<()> {
    let params: ExportParams = serde_json::from_value(job.params.clone())?;
    let rows = db::qr_codes::for_export(
        &state.db,
        job.user_id,
        params.qr_ids.as_deref(),
        params.project_id,
        MAX_CODES as i64,
    )
    .await?;
    let scratch = state.store.scratch_dir();
    tokio::fs::create_dir_all(&scratch).await?;
    // Named per attempt: a delivery repeated while an earlier one still runs (at-least-once)
    // never writes into the other's file, and the loser removes only its own.
    let attempt = format!("{}-{}", job.id, job.attempts);
    let path = scratch.join(format!("export-{attempt}.zip"));
    let zip = ZipSink::create(path.clone());

    let ext = params.format.extension();
    let mut taken = HashSet::new();
    let names: Vec<String> = rows
        .iter()
        .map(|r| file_name(r.name.as_deref().unwrap_or(""), ext, &mut taken))
        .collect();
    let mut manifest = String::from("id,name,type,short_url,payload,file\n");
    let (format, size) = (params.format, params.size);
    // Owned items and a state clone per render: the stream's futures must not borrow.
    let mut renders = futures::stream::iter(rows.into_iter().zip(names))
        .map(|(row, name)| {
            let state = state.clone();
            async move {
                let spec = codes::image_spec(&state, &row, format, size).await?;
                let payload = spec.payload.clone();
                let owner = row.user_id.ok_or(ApiError::NotFound)?;
                let bytes = codes::draw(&state, owner, spec).await?;
                Ok::<_, ApiError>((row, name, payload, bytes))
            }
        })
        .buffered(IN_FLIGHT);
    let mut done = 0usize;
    let mut cancelled = false;
    while let Some(r) = renders.next().await {
        let (row, name, payload, bytes) = r.map_err(|e| anyhow::anyhow!("rendering: {e}"))?;
        let short_url = if row.dynamic {
            codes::short_url(&state.settings, row.domain_host.as_deref(), &row.short_code)
        } else {
            String::new()
        };
        manifest.push_str(&format!(
            "{},{},{},{},{},{}\n",
            row.id,
            csv_cell(row.name.as_deref().unwrap_or("")),
            csv_cell(&row.qr_type),
            csv_cell(&short_url),
            csv_cell(&payload),
            csv_cell(&name)
        ));
        if zip.entry(name, Packing::Stored, bytes).await.is_err() {
            break; // the writer failed; `finish` reports why
        }
        done += 1;
        if done.is_multiple_of(PROGRESS_EVERY)
            && db::jobs::progress(&state.db, job.id, done as i32)
                .await?
                .as_deref()
                != Some("running")
        {
            cancelled = true;
            break;
        }
    }
    drop(renders);
    if !cancelled {
        let _ = zip.entry("manifest.csv", Packing::Stored, manifest).await;
    }
    let written = zip.finish().await;
    if cancelled {
        let _ = tokio::fs::remove_file(&path).await;
        return Ok(()); // cancelled
    }
    let bytes = written?;
    let key = format!("exports/{}/{attempt}.zip", job.user_id);
    state.store.put_file(&key, &path).await?;
    let expires = Utc::now() + Duration::hours(state.settings.export_ttl_hours as i64);
    let result = serde_json::json!({"codes": done, "bytes": bytes});
    let mut tx = state.db.begin().await?;
    if !db::jobs::succeed(&mut *tx, job.id, &result, Some(&key), Some(expires)).await? {
        // Cancelled between the last progress check and now, or another delivery finished
        // first: either way this attempt's file is not the job's.
        drop(tx);
        let _ = state.store.delete(&key).await;
        return Ok(());
    }
    let usage_key = format!("export:{}", job.id);
    db::billing::record_export_usage(&mut tx, &usage_key, job.user_id, Utc::now().date_naive())
        .await?;
    let user = db::users::by_id(&mut *tx, job.user_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("export owner is gone"))?;
    let url = state
        .settings
        .public_url(&format!("/api/v1/exports/{}/download", job.id));
    let email = crate::notify::emails::export_ready(
        &mut tx,
        state,
        &user,
        done as i32,
        &url,
        &expires.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
    .await?;
    let event = ExportCompletedData {
        job_id: job.id,
        codes: done as i64,
        download_url: url,
        expires_at: expires,
    };
    let mut pending = emit(&mut tx, job.user_id, EventType::ExportCompleted, &event).await?;
    pending.emails.push(email);
    tx.commit().await?;
    pending.dispatch(state).await;
    Ok(())
}

/// The export's ZIP (codes, or the account's data) for its owner, as a stream.
pub async fn download(
    state: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<crate::storage::ByteStream> {
    let job = db::jobs::get(&state.db, Some(p.user.id), id)
        .await?
        .filter(|j| j.kind == "export" || j.kind == crate::accounts::export::KIND)
        .ok_or(ApiError::NotFound)?;
    // A whole account's data (sessions, audit trail, billing) is more than `exports:read`
    // promises: it takes the scope that could have asked for it.
    if job.kind == crate::accounts::export::KIND && !p.allows("account:admin") {
        return Err(ApiError::InsufficientScope("account:admin"));
    }
    if job.status != "succeeded" {
        return Err(ApiError::Conflict {
            code: "not_ready",
            message: format!("the export is {}", job.status),
        });
    }
    let key = job
        .file_key
        .ok_or_else(|| ApiError::Gone("the export has expired".into()))?;
    state.store.stream(&key).await.map_err(ApiError::internal)
}

/// Deletes export files past their expiry (the clean-up schedule); answers how many.
pub async fn clean_expired(state: &AppState) -> anyhow::Result<usize> {
    let mut n = 0;
    loop {
        let batch = db::jobs::expired_files(&state.db, Utc::now(), 500).await?;
        if batch.is_empty() {
            break;
        }
        for (id, key) in batch {
            state.store.delete(&key).await?;
            db::jobs::forget_file(&state.db, id).await?;
            n += 1;
        }
    }
    let stale = remove_stale_scratch(&state.store.scratch_dir(), STALE_SCRATCH).await?;
    if stale > 0 {
        tracing::info!(files = stale, "half-built exports of dead workers removed");
    }
    Ok(n)
}

/// A scratch file this old belongs to an export whose process died mid-way (a live one takes
/// minutes at most); the job itself was delivered again and built a file of its own.
const STALE_SCRATCH: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

async fn remove_stale_scratch(dir: &Path, age: std::time::Duration) -> std::io::Result<usize> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    while let Some(entry) = entries.next_entry().await? {
        let modified = entry.metadata().await?.modified()?;
        if modified.elapsed().is_ok_and(|d| d >= age) {
            tokio::fs::remove_file(entry.path()).await?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_stale_scratch_files_are_removed() {
        let dir = std::env::temp_dir().join(format!("qrsaas-scratch-{}", Uuid::now_v7()));
        assert_eq!(
            remove_stale_scratch(&dir, STALE_SCRATCH).await.unwrap(),
            0,
            "no dir yet"
        );
        tokio::fs::create_dir_all(&dir).await.unwrap();
        tokio::fs::write(dir.join("export-a-1.zip"), b"half")
            .await
            .unwrap();
        assert_eq!(
            remove_stale_scratch(&dir, STALE_SCRATCH).await.unwrap(),
            0,
            "fresh: kept"
        );
        assert!(dir.join("export-a-1.zip").exists());
        let zero = std::time::Duration::ZERO;
        assert_eq!(remove_stale_scratch(&dir, zero).await.unwrap(), 1);
        assert!(!dir.join("export-a-1.zip").exists());
        tokio::fs::remove_dir_all(&dir).await.unwrap();
    }

    #[test]
    fn file_names_are_safe_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(
            file_name("Menu / Table 4", "png", &mut taken),
            "Menu___Table_4.png"
        );
        assert_eq!(
            file_name("menu / table 4", "png", &mut taken),
            "menu___table_4-2.png"
        );
        assert_eq!(
            file_name("../../etc/passwd", "png", &mut taken),
            "etc_passwd.png"
        );
        assert_eq!(file_name("", "png", &mut taken), "code.png");
        assert_eq!(file_name("☕", "png", &mut taken), "code-2.png");
        assert_eq!(file_name("manifest", "csv", &mut taken), "manifest-2.csv");
        for formula in ["-2_3", "=SUM(A1)", "+1", "@cmd", "--x"] {
            let f = file_name(formula, "svg", &mut taken);
            assert!(
                f.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "{formula} → {f}"
            );
        }
        assert_eq!(file_name("-2_3", "png", &mut taken), "2_3.png");
    }
}
