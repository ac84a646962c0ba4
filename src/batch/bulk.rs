//! Bulk create: up to 10,000 codes from a CSV file or a JSON array, created by the `bulk-create`
//! worker, with a report per row (the created code's id, or its field errors).
//!
//! Rows are checked for shape when the request arrives (so a wrong file is refused at once) and
//! stored with the job; each row then goes through the same checks as `POST /api/v1/qr-codes`.
//! A row's code id is derived from the job id and the row number, so a re-run after a crash
//! finds the codes it made instead of making them twice.

use std::collections::BTreeMap;

use qrsaas_jobs::{BulkCreate, Job};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::codes::{self, CodeInput};
use crate::db::{self, jobs::JobRow};
use crate::domain::TargetPolicy;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::notify::events::{BulkCompletedData, EventType, emit};
use crate::state::AppState;

pub const MAX_ROWS: usize = 10_000;
/// Largest upload (10,000 rows of a few hundred bytes each, with room to spare).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
const PROGRESS_EVERY: usize = 100;

/// CSV columns that are not type fields; every other column is a field of `data`.
const TOP_LEVEL: &[&str] = &[
    "name",
    "qr_type",
    "dynamic",
    "target_url",
    "project_id",
    "project",
    "alias",
    "template_id",
];
/// Type fields that are lists: one cell, items separated by `;`.
const LIST_FIELDS: &[&str] = &["phones", "emails"];
/// Type fields that are numbers.
const NUMBER_FIELDS: &[&str] = &["lat", "lng", "latitude", "longitude"];

pub enum Upload<'a> {
    Csv(&'a [u8]),
    Json(&'a [u8]),
}

/// The rows of the upload as JSON objects in the shape of a create request.
pub fn rows(upload: Upload<'_>) -> ApiResult<Vec<Value>> {
    let rows = match upload {
        Upload::Json(body) => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(rows)) => rows,
            Ok(_) => {
                return Err(ApiError::BadRequest(
                    "expected a JSON array of codes".into(),
                ));
            }
            Err(e) => return Err(ApiError::BadRequest(format!("malformed JSON: {e}"))),
        },
        Upload::Csv(body) => csv_rows(body)?,
    };
    if rows.is_empty() || rows.len() > MAX_ROWS {
        return Err(ApiError::field(
            "rows",
            format!("between 1 and {MAX_ROWS} rows (got {})", rows.len()),
        ));
    }
    Ok(rows)
}

fn csv_rows(body: &[u8]) -> ApiResult<Vec<Value>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(body);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::BadRequest(format!("CSV header row: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    for required in ["name", "qr_type"] {
        if !headers.iter().any(|h| h == required) {
            return Err(ApiError::field(
                "csv",
                format!("the header row needs a `{required}` column"),
            ));
        }
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if out.len() >= MAX_ROWS {
            return Err(ApiError::field("rows", format!("at most {MAX_ROWS} rows")));
        }
        let record = record.map_err(|e| ApiError::BadRequest(format!("CSV row {}: {e}", i + 1)))?;
        let mut top = Map::new();
        let mut data = Map::new();
        for (h, cell) in headers.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = if h == "dynamic" {
                match cell.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => json!(true),
                    "false" | "no" | "0" => json!(false),
                    _ => json!(cell), // refused by the row's own check, with the field named
                }
            } else if LIST_FIELDS.contains(&h.as_str()) {
                json!(
                    cell.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                )
            } else if NUMBER_FIELDS.contains(&h.as_str()) {
                cell.parse::<f64>()
                    .map_or_else(|_| json!(cell), |n| json!(n))
            } else {
                json!(cell)
            };
            if TOP_LEVEL.contains(&h.as_str()) {
                top.insert(h.clone(), value);
            } else {
                data.insert(h.clone(), value);
            }
        }
        top.entry("dynamic").or_insert(json!(false));
        if !data.is_empty() {
            top.insert("data".into(), Value::Object(data));
        }
        out.push(Value::Object(top));
    }
    Ok(out)
}

/// Stores the rows with a new job and queues it.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    rows: Vec<Value>,
) -> ApiResult<JobRow> {
    let id = Uuid::now_v7();
    let total = rows.len() as i32;
    let mut tx = state.db.begin().await?;
    let job = db::jobs::insert(
        &mut *tx,
        id,
        p.user.id,
        "bulk_create",
        &json!({ "rows": rows }),
        total,
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created("bulk_create.create", "job", id, &json!({ "rows": total })),
    )
    .await?;
    tx.commit().await?;
    crate::batch::tasks::enqueue(state, &job).await?;
    Ok(job)
}

#[derive(Debug, Default, Serialize)]
struct RowReport {
    /// 1-based, not counting a CSV header.
    row: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<FieldErrors>,
    /// An import's link already here (imported before): left as it is.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    skipped: bool,
    /// An import's short code was taken or not valid here: the code got a new one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    short_code_changed: bool,
}

/// The `bulk-create` queue's handler.
pub async fn handle(
    job: qrsaas_jobs::BulkCreate,
    app: apalis::prelude::Data<AppState>,
) -> Result<(), apalis::prelude::BoxDynError> {
    run(&app, job.job_id).await.map_err(Into::into)
}

/// One run of a bulk-create job (the `bulk-create` worker calls this).
pub async fn run(state: &AppState, job_id: Uuid) -> anyhow::Result<()> {
    crate::batch::tasks::run(state, job_id, BulkCreate::RETRY.max_attempts, async |job| {
        build(state, job).await
    })
    .await
}

async fn build(state: &AppState, job: &JobRow) -> anyhow::Result<()> {
    let rows: Vec<Value> = serde_json::from_value(job.params["rows"].clone())?;
    let user = db::users::by_id(&state.db, job.user_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the job's owner is gone"))?;
    // The job acts for its owner; the scope was checked when it was started.
    let principal = Principal {
        user,
        session_id: None,
        api_key_id: None,
        scopes: None,
        expires_at: None,
    };
    let origin = Origin {
        ip: "job".into(),
        request_id: job.id.to_string(),
        user_agent: None,
    };
    let own = codes::target_policy(state);
    let projects: BTreeMap<String, Uuid> = db::projects::names(&state.db, job.user_id)
        .await?
        .into_iter()
        .map(|(id, name)| (name.to_lowercase(), id))
        .collect();
    let mut report = Vec::with_capacity(rows.len());
    let (mut created, mut skipped) = (0usize, 0usize);
    for (i, mut row) in rows.into_iter().enumerate() {
        // An import's row names its code's id (the same on every import of the link); a bulk
        // row's id comes from the job and the row (the same on every run of the job).
        // Only an import's own rows carry one (in a bulk upload `_import` is an unknown field).
        let import_id = (job.kind == super::imports::KIND)
            .then(|| row.as_object_mut().and_then(|o| o.remove("_import")))
            .flatten()
            .and_then(|m| m["id"].as_str().and_then(|s| s.parse::<Uuid>().ok()));
        let id = import_id.unwrap_or_else(|| Uuid::new_v5(&job.id, &(i as u64).to_be_bytes()));
        let mut line = RowReport {
            row: i + 1,
            ..RowReport::default()
        };
        if db::qr_codes::get(&state.db, job.user_id, id)
            .await?
            .is_some()
        {
            // Made by an earlier run of this job, or imported before.
            line.skipped = import_id.is_some();
            line.id = Some(id);
        } else {
            let keep = row.clone();
            let mut outcome =
                create_row(state, &origin, &principal, &mut row, id, &own, &projects).await?;
            // An imported short code that is taken or not valid here: a new one instead.
            if import_id.is_some() && matches!(&outcome, Err(e) if e.contains_key("alias")) {
                let mut row = keep;
                if let Some(o) = row.as_object_mut() {
                    o.remove("alias");
                }
                outcome =
                    create_row(state, &origin, &principal, &mut row, id, &own, &projects).await?;
                line.short_code_changed = outcome.is_ok();
            }
            match outcome {
                Ok(id) => line.id = Some(id),
                Err(errors) => line.errors = Some(errors),
            }
        }
        match (&line.id, line.skipped) {
            (Some(_), false) => created += 1,
            (Some(_), true) => skipped += 1,
            _ => {}
        }
        report.push(line);
        if (i + 1).is_multiple_of(PROGRESS_EVERY)
            && db::jobs::progress(&state.db, job.id, (i + 1) as i32)
                .await?
                .as_deref()
                != Some("running")
        {
            return Ok(()); // cancelled: the rows made so far stay
        }
    }
    let failed = report.len() - created - skipped;
    let result = json!({"created": created, "skipped": skipped, "failed": failed, "rows": report});
    let mut tx = state.db.begin().await?;
    if !db::jobs::succeed(&mut *tx, job.id, &result, None, None).await? {
        return Ok(()); // cancelled meanwhile
    }
    let event = BulkCompletedData {
        job_id: job.id,
        created: created as i64,
        failed: failed as i64,
        job_url: state
            .settings
            .public_url(&format!("/api/v1/jobs/{}", job.id)),
    };
    let pending = emit(&mut tx, job.user_id, EventType::BulkCompleted, &event).await?;
    tx.commit().await?;
    pending.dispatch(state).await;
    Ok(())
}

/// Creates one row's code; `Ok(Err(..))` is the row's own fault (reported), `Err` a failure of
/// the service (the job is retried).
async fn create_row(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    row: &mut Value,
    id: Uuid,
    own: &TargetPolicy,
    projects: &BTreeMap<String, Uuid>,
) -> anyhow::Result<Result<Uuid, FieldErrors>> {
    // A CSV names its project by name.
    if let Some(obj) = row.as_object_mut()
        && let Some(Value::String(name)) = obj.remove("project")
    {
        match projects.get(&name.to_lowercase()) {
            Some(pid) => {
                obj.insert("project_id".into(), json!(pid));
            }
            None => {
                return Ok(Err(FieldErrors::from([(
                    "project".to_owned(),
                    format!("no project named {name}"),
                )])));
            }
        }
    }
    let input: CodeInput = match crate::domain::strict::from_value(row.take()) {
        Ok(input) => input,
        Err(e) => return Ok(Err(e)),
    };
    let mut new = match codes::parse_input(input, own) {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    new.id = Some(id);
    match codes::create(state, origin, p, new).await {
        Ok(code) => Ok(Ok(code.row.id)),
        Err(ApiError::Validation(e)) => Ok(Err(e)),
        Err(ApiError::Conflict { message, .. }) => {
            Ok(Err(FieldErrors::from([("alias".to_owned(), message)])))
        }
        // Over the plan's limits: this row is refused, the rest go on.
        Err(e @ (ApiError::PlanLimit { .. } | ApiError::PlanFeature { .. })) => {
            Ok(Err(e.plan_refusal().unwrap_or_default()))
        }
        Err(ApiError::Internal(e)) => Err(e),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_create_requests() {
        let csv = "name,qr_type,dynamic,target_url,project,ssid,password,encryption,phones,first_name\n\
                   Menu,url,yes,https://example.com/m,Cafe,,,,,\n\
                   Wifi,wifi,,,,Cafe Guest,p4ss,WPA,,\n\
                   Card,vcard,false,,,,,,+1 555; +1 556,Ann\n";
        let parsed = rows(Upload::Csv(csv.as_bytes())).unwrap();
        assert_eq!(
            parsed[0],
            json!({"name": "Menu", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/m", "project": "Cafe"})
        );
        assert_eq!(
            parsed[1],
            json!({"name": "Wifi", "qr_type": "wifi", "dynamic": false, "data": {"ssid": "Cafe Guest", "password": "p4ss", "encryption": "WPA"}})
        );
        assert_eq!(parsed[2]["data"]["phones"], json!(["+1 555", "+1 556"]));
        assert!(
            rows(Upload::Csv(b"name\nx\n")).is_err(),
            "qr_type column required"
        );
        assert!(rows(Upload::Json(b"{}")).is_err());
    }
}
