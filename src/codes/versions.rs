//! Destination history: every change of what a scan of a code does (target, rules, UTM, data,
//! status) is a numbered version — who made it, through which key, what changed and the whole
//! state after it — and any version can be restored, which is itself a new version.
//!
//! A printed code cannot be reprinted, so its destination is the one thing that still changes;
//! the history makes every change reviewable and reversible. Versions are written in the same
//! transaction as the change (and its audit row), under the code's row lock.

use serde_json::{Map, Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Code, CodePatch, Status, Via, qr_type, take, target, target_policy};
use crate::accounts::audit::Actor;
use crate::accounts::{Origin, Principal};
use crate::db::qr_codes::QrRow;
use crate::db::versions::{NewVersion, VersionRow};
use crate::db::{self, Paged, Window};
use crate::domain::utm::Utm;
use crate::domain::{QrData, QrType};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::state::AppState;

/// What a version keeps: everything that decides what a scan does.
const FIELDS: [&str; 6] = ["target_url", "targets", "rules", "utm", "data", "status"];

/// The restorable state of a code.
fn state(r: &QrRow) -> Value {
    json!({
        "target_url": r.target_url,
        "targets": r.targets,
        "rules": r.rules,
        "utm": r.utm,
        "data": r.type_data,
        "status": r.status,
    })
}

/// `{field: {from, to}}` for each field that differs (every field for a new code).
fn changes(before: Option<&Value>, after: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for f in FIELDS {
        let from = before.map_or(&Value::Null, |b| &b[f]);
        let to = &after[f];
        if before.is_none() || from != to {
            out.insert(f.to_owned(), json!({"from": from, "to": to}));
        }
    }
    out
}

/// Records the version a create (`before` None) or a change makes; a direct change that leaves
/// what a scan does as it was (a rename, a new design) makes none, while a restore or a
/// scheduled change always does (it is what happened). Answers the version's number.
pub(super) async fn record(
    tx: &mut PgConnection,
    actor: &Actor,
    before: Option<&QrRow>,
    after: &QrRow,
    via: Via,
) -> ApiResult<Option<i32>> {
    let after_state = state(after);
    let mut changes = changes(before.map(state).as_ref(), &after_state);
    match via {
        Via::Direct if changes.is_empty() => return Ok(None),
        Via::Direct => {}
        Via::Restore(n) => {
            changes.insert("restored_from".to_owned(), n.into());
        }
        Via::Schedule(id) => {
            changes.insert("schedule_id".to_owned(), id.to_string().into());
        }
    }
    let version = db::versions::append(
        &mut *tx,
        &NewVersion {
            qr_id: after.id,
            actor_user_id: actor.user_id,
            api_key_id: actor.api_key_id,
            changes: &Value::Object(changes),
            state: &after_state,
        },
    )
    .await?;
    Ok(Some(version))
}

/// The owner's code's versions, newest first (another tenant's code is not found).
pub async fn list(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    w: Window,
) -> ApiResult<Paged<VersionRow>> {
    super::get(state, p, id).await?;
    Ok(db::versions::list(&state.db, id, w).await?)
}

/// Makes version `version` current again, as a new version. Each field is checked as a change
/// to it would be today: a target the blocklist or the target policy now refuses, or rules the
/// plan no longer allows, are refused rather than revived.
pub async fn restore(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    version: i32,
) -> ApiResult<Code> {
    let current = super::get(state, p, id).await?;
    let old = db::versions::get(&state.db, id, version)
        .await?
        .ok_or(ApiError::NotFound)?;
    let t = qr_type(&current.row)?;
    let dynamic = current.row.dynamic;
    let own = target_policy(state);
    let s = &old.state;
    let mut e = FieldErrors::new();
    let mut patch = CodePatch::default();
    if t == QrType::Url {
        patch.target_url = target(&mut e, t, s["target_url"].as_str(), &own);
        patch.targets = match &s["targets"] {
            Value::Null => Some(None),
            list if dynamic => take(&mut e, crate::domain::parse_targets(list, &own)).map(Some),
            _ => None,
        };
    } else if !s["data"].is_null() {
        patch.data = take(&mut e, QrData::parse(t, &s["data"]));
    }
    if dynamic {
        patch.rules = take(&mut e, crate::domain::rules::parse(&s["rules"], &own));
        if t == QrType::Url {
            patch.utm = take(&mut e, Utm::parse(&s["utm"]));
        }
    }
    patch.status = match s["status"].as_str() {
        Some("active") => Some(Status::Active),
        Some("paused") => Some(Status::Paused),
        _ => None,
    };
    if !e.is_empty() {
        return Err(ApiError::Validation(e));
    }
    super::apply(state, origin, p, id, patch, Via::Restore(version)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_only_what_differs() {
        let a = json!({"target_url": "https://a.example/", "rules": [], "utm": {}, "data": null, "status": "active"});
        let mut b = a.clone();
        b["target_url"] = json!("https://b.example/");
        b["status"] = json!("paused");
        let c = changes(Some(&a), &b);
        assert_eq!(
            Value::Object(c),
            json!({"target_url": {"from": "https://a.example/", "to": "https://b.example/"},
                   "status": {"from": "active", "to": "paused"}})
        );
        assert!(changes(Some(&a), &a).is_empty());
        assert_eq!(changes(None, &a).len(), FIELDS.len());
    }
}
