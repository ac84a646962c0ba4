//! Scheduled changes: a change of a code (a PATCH body) set to apply at a given time — a
//! campaign pointed at a new page at midnight in the owner's time zone with nobody awake.
//!
//! The change is checked when it is scheduled and again when it is applied (the code, the
//! blocklist or the plan may have changed since). The locked scheduler looks for due changes
//! every few seconds (`MaintenanceTask::ApplySchedules`); each is applied through the same path
//! as a PATCH, as a new version, and the schedule's move to `applied` commits in the change's
//! transaction, guarded by `status = 'pending'` — so two schedulers, a redelivered job or a
//! cancel racing the apply leave exactly one effect.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{PatchBody, Via, parse_patch, target_policy};
use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::db::schedules::{Cancelled, NewSchedule, ScheduleRow};
use crate::db::{self, Paged, Window};
use crate::domain::strict;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::state::AppState;

/// Pending changes one code may have waiting.
pub const MAX_PENDING: i64 = 50;
/// How far ahead a change may be scheduled.
const MAX_AHEAD: Duration = Duration::days(3 * 366);
/// How far in the past `at` may be (a client's clock a little behind): applied at once.
const GRACE: Duration = Duration::minutes(5);

/// The body's `changes`, checked against the code as it is now; errors named `changes.<field>`.
fn checked(
    state: &AppState,
    row: &crate::db::qr_codes::QrRow,
    changes: &serde_json::Value,
) -> Result<super::CodePatch, FieldErrors> {
    let prefix = |e: FieldErrors| {
        e.into_iter()
            .map(|(k, v)| (format!("changes.{k}"), v))
            .collect::<FieldErrors>()
    };
    let body: PatchBody = strict::from_value(changes.clone()).map_err(prefix)?;
    parse_patch(row, &body, &target_policy(state)).map_err(prefix)
}

/// Schedules `changes` (a PATCH body) for `at`.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    at: DateTime<Utc>,
    changes: serde_json::Value,
) -> ApiResult<ScheduleRow> {
    let current = super::get(state, p, id).await?;
    if current.row.status == "blocked" {
        return Err(ApiError::Forbidden(
            "this code was blocked by an administrator",
        ));
    }
    let mut e = FieldErrors::new();
    let now = Utc::now();
    if at < now - GRACE {
        e.insert("at".into(), "must not be in the past".into());
    } else if at > now + MAX_AHEAD {
        e.insert("at".into(), "must be within three years".into());
    }
    if changes.as_object().is_some_and(|o| o.is_empty()) {
        e.insert("changes".into(), "must change something".into());
    }
    if let Err(fields) = checked(state, &current.row, &changes) {
        e.extend(fields);
    }
    if !e.is_empty() {
        return Err(ApiError::Validation(e));
    }
    let mut tx = state.db.begin().await?;
    // Under the code's lock, so two requests cannot both take the last free place.
    db::qr_codes::get_for_update(&mut *tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if db::schedules::pending_count(&mut *tx, id).await? >= MAX_PENDING {
        return Err(ApiError::Conflict {
            code: "too_many_schedules",
            message: format!("a code may have at most {MAX_PENDING} pending scheduled changes"),
        });
    }
    let row = db::schedules::insert(
        &mut *tx,
        &NewSchedule {
            id: Uuid::now_v7(),
            qr_id: id,
            user_id: p.user.id,
            api_key_id: p.api_key_id,
            at,
            changes: &changes,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created(
            "qr_code.schedule",
            "qr_code_schedule",
            row.id,
            &serde_json::json!({"qr_id": id, "at": at, "changes": changes}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The code's scheduled changes, soonest first.
pub async fn list(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    w: Window,
) -> ApiResult<Paged<ScheduleRow>> {
    super::get(state, p, id).await?;
    Ok(db::schedules::list(&state.db, id, w).await?)
}

/// Cancels a pending change; one already applied, failed or cancelled answers 409.
pub async fn cancel(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    schedule: Uuid,
) -> ApiResult<()> {
    super::get(state, p, id).await?;
    let mut tx = state.db.begin().await?;
    match db::schedules::cancel(&mut *tx, id, schedule).await? {
        Cancelled::Missing => Err(ApiError::NotFound),
        Cancelled::Now => {
            audit::record(
                &mut tx,
                &origin.actor(Some(p)),
                Change::event("qr_code.schedule_cancel", "qr_code_schedule", schedule),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        Cancelled::Already(status) => Err(ApiError::Conflict {
            code: "schedule_finished",
            message: format!("this scheduled change is already {status}"),
        }),
    }
}

/// Applies the changes due at `now`; answers how many were applied. A change that can no
/// longer be made (the code deleted or blocked, a target now refused) is marked failed with
/// the reason; one that met a dependency outage stays pending for the next run.
pub async fn apply_due(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut applied = 0;
    for s in db::schedules::due(&state.db, now, 200).await? {
        match apply(state, &s).await {
            Ok(()) => applied += 1,
            // Applied by another scheduler, or cancelled meanwhile.
            Err(ApiError::Conflict {
                code: "schedule_not_pending",
                ..
            }) => {}
            Err(e) if e.is_transient() => {
                return Err(anyhow::anyhow!("scheduled change {}: {e}", s.id));
            }
            Err(e) => {
                let why = match &e {
                    ApiError::Validation(fields) => fields
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                tracing::warn!(schedule = %s.id, qr_id = %s.qr_id, error = %why, "scheduled change failed");
                db::schedules::mark_failed(&state.db, s.id, &why).await?;
            }
        }
    }
    Ok(applied)
}

/// One due change, made as its author (the account, and the key it was scheduled through).
async fn apply(state: &AppState, s: &ScheduleRow) -> ApiResult<()> {
    let user = db::users::by_id(&state.db, s.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if user.suspended_at.is_some() {
        return Err(ApiError::Forbidden("the account is suspended"));
    }
    let p = Principal {
        user,
        session_id: None,
        api_key_id: s.api_key_id,
        scopes: None,
        expires_at: None,
    };
    let origin = Origin {
        ip: "scheduler".into(),
        request_id: s.id.to_string(),
        user_agent: None,
    };
    let current = super::get(state, &p, s.qr_id).await?;
    let patch = checked(state, &current.row, &s.changes).map_err(ApiError::Validation)?;
    super::apply(state, &origin, &p, s.qr_id, patch, Via::Schedule(s.id))
        .await
        .map(|_| ())
}
