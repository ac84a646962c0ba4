//! QR codes: create, list, read, change, delete, and render them.
//!
//! Dynamic codes encode their short URL (`/r/{code}`), so the target or data can change after
//! printing; static codes encode the payload itself. Every change is audited in its transaction.
//! Beside them: the merchant catalogue behind payment codes (`catalog`), frames and landing
//! pages (`templates`) and logo uploads (`uploads`).

pub mod cache;
pub mod catalog;
mod images;
mod input;
mod payloads;
pub mod schedules;
pub mod templates;
pub mod uploads;
pub mod versions;

pub use images::*;
pub use input::*;
pub use payloads::*;

use serde::Serialize;
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::billing::limits::{self, Ask};
use crate::cache::Invalidate;
use crate::config::Settings;
use crate::db::qr_codes::{NewQr, QrFilter, QrRow, QrUpdate};
use crate::db::{self, Paged, Window};
use crate::domain::design::Design;
use crate::domain::{QrData, QrType, ShortCode, TargetPolicy, TargetUrl};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::notify::{self, events::EventType, events::QrCodeData};
use crate::state::AppState;

/// A code with the payload its image encodes.
pub struct Code {
    pub row: QrRow,
    pub payload: String,
}

/// A dynamic code's short URL: `https://<domain>/<code>` on its custom domain (the bare form:
/// shorter, so a less dense image), else `/r/<code>` on this service's host.
pub fn short_url(settings: &Settings, domain: Option<&str>, code: &str) -> String {
    match domain {
        Some(d) => format!("https://{d}/{code}"),
        None => settings.public_url(&format!("/r/{code}")),
    }
}

/// What targets may point at: never this service — its public host, or any customer's
/// domain it serves (a code sent there may loop back to itself) — and internal addresses only
/// if the operator allows them.
pub fn target_policy(state: &AppState) -> TargetPolicy {
    TargetPolicy {
        own_hosts: state.hosts.own_hosts(),
        allow_private: state.settings.targets.allow_private,
    }
}

fn qr_type(row: &QrRow) -> ApiResult<QrType> {
    QrType::parse(&row.qr_type)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown qr_type {}", row.qr_type)))
}

/// The owner's `default_design` (settings), for codes created without a design. It was
/// validated when saved; one that no longer parses (an older format) falls back to plain.
async fn default_design(conn: &mut sqlx::PgConnection, owner: Uuid) -> ApiResult<Design> {
    let prefs = db::settings::get(&mut *conn, owner).await?;
    let d = &prefs.default_design;
    if d.is_null() || d.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(Design::default());
    }
    Ok(Design::parse(d).unwrap_or_else(|e| {
        tracing::warn!(%owner, errors = ?e, "stored default_design no longer parses; using plain");
        Design::default()
    }))
}

pub fn design(row: &QrRow) -> Design {
    row.design_json
        .as_ref()
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default()
}

/// Checks what a code refers to — project, logo, frame template, merchant and products — all
/// belonging to the caller. Fills the frame from `template_id` when the design has none.
async fn check_refs(
    conn: &mut sqlx::PgConnection,
    owner: Uuid,
    project_id: Option<Uuid>,
    template_id: Option<Uuid>,
    design: &mut Design,
    data: &QrData,
) -> ApiResult<()> {
    let mut e = FieldErrors::new();
    if let Some(pid) = project_id
        && db::projects::get(&mut *conn, owner, pid).await?.is_none()
    {
        e.insert("project_id".into(), "no such project".into());
    }
    if let Some(logo) = design.logo_upload_id
        && db::uploads::get(&mut *conn, owner, logo).await?.is_none()
    {
        e.insert("design.logo_upload_id".into(), "no such upload".into());
    }
    if let Some(tid) = template_id {
        design.frame.get_or_insert(crate::domain::design::Frame {
            template_id: Some(tid),
            text: None,
        });
    }
    if let Some(tid) = design.frame.as_ref().and_then(|f| f.template_id) {
        let field = if template_id == Some(tid) {
            "template_id"
        } else {
            "design.frame.template_id"
        };
        match db::templates::get(&mut *conn, tid).await? {
            Some(t) if t.category.as_deref() == Some("frame") => {}
            _ => {
                e.insert(field.into(), "no such frame template".into());
            }
        }
    }
    if let QrData::Payment(pd) = data {
        if db::catalog::merchant(&mut *conn, owner).await?.is_none() {
            e.insert(
                "data".into(),
                "payment codes need a merchant profile: PUT /api/v1/merchant first".into(),
            );
        }
        if let Some(pid) = pd.product_id {
            match db::catalog::product(&mut *conn, owner, pid).await? {
                Some(p) if p.parent_id.is_none() => {}
                Some(_) => {
                    e.insert(
                        "data.product_id".into(),
                        "is a variant; use variant_id".into(),
                    );
                }
                None => {
                    e.insert("data.product_id".into(), "no such product".into());
                }
            }
        }
        if let Some(vid) = pd.variant_id {
            match db::catalog::product(&mut *conn, owner, vid).await? {
                Some(v) if v.parent_id.is_some() => {
                    if pd.product_id.is_some_and(|pid| v.parent_id != Some(pid)) {
                        e.insert(
                            "data.variant_id".into(),
                            "is not a variant of product_id".into(),
                        );
                    }
                }
                Some(_) => {
                    e.insert(
                        "data.variant_id".into(),
                        "is not a variant (it has no parent product)".into(),
                    );
                }
                None => {
                    e.insert("data.variant_id".into(), "no such variant".into());
                }
            }
        }
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(e))
    }
}

/// The audit image of a code.
#[derive(Serialize)]
struct Snapshot<'a> {
    name: Option<&'a str>,
    qr_type: &'a str,
    dynamic: bool,
    short_code: &'a str,
    target_url: Option<&'a str>,
    status: &'a str,
    project_id: Option<Uuid>,
    data: Option<&'a serde_json::Value>,
    design: Option<&'a serde_json::Value>,
}

fn snapshot(r: &QrRow) -> Snapshot<'_> {
    Snapshot {
        name: r.name.as_deref(),
        qr_type: &r.qr_type,
        dynamic: r.dynamic,
        short_code: &r.short_code,
        target_url: r.target_url.as_deref(),
        status: &r.status,
        project_id: r.project_id,
        data: r.type_data.as_ref(),
        design: r.design_json.as_ref(),
    }
}

/// The domain a code asks for, if it may have it: one of the owner's, verified (a failing
/// domain keeps the codes it has but takes no new ones). Other accounts' ids read as unknown.
async fn checked_domain(conn: &mut sqlx::PgConnection, owner: Uuid, id: Uuid) -> ApiResult<Uuid> {
    match db::domains::get(&mut *conn, owner, id).await? {
        Some(d) if d.status == "verified" => Ok(d.id),
        Some(_) => Err(ApiError::field(
            "domain_id",
            "this domain is not verified; verify it first",
        )),
        None => Err(ApiError::field(
            "domain_id",
            "no such domain in this account",
        )),
    }
}

fn product_links(data: &QrData) -> (Option<Uuid>, Option<Uuid>) {
    match data {
        QrData::Payment(p) => (p.product_id, p.variant_id),
        _ => (None, None),
    }
}

pub async fn create(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    mut new: NewCode,
) -> ApiResult<Code> {
    let owner = p.user.id;
    hash_rule_passwords(&mut new.rules).await?;
    let mut tx = state.db.begin().await?;
    if !new.design_given {
        new.design = default_design(&mut tx, owner).await?;
    }
    let urls = destinations(
        new.target_url.as_ref().map(TargetUrl::as_str),
        new.targets.as_deref().unwrap_or(&[]),
        &new.rules,
    );
    crate::abuse::blocklist::refuse_blocked(&mut tx, state, &urls).await?;
    check_refs(
        &mut tx,
        owner,
        new.project_id,
        new.template_id,
        &mut new.design,
        &new.data,
    )
    .await?;
    let design_json = serde_json::to_value(&new.design).map_err(ApiError::internal)?;
    let type_data = new.data.to_json();
    let rules = serde_json::to_value(&new.rules).map_err(ApiError::internal)?;
    let utm = serde_json::to_value(&new.utm).map_err(ApiError::internal)?;
    let targets = new
        .targets
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(ApiError::internal)?;
    let (product_id, variant_id) = product_links(&new.data);
    let domain_id = match new.domain_id {
        Some(Some(d)) => Some(checked_domain(&mut tx, owner, d).await?),
        Some(None) => None,
        None if new.dynamic => db::domains::default_of(&mut tx, owner).await?,
        None => None,
    };
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    let now = chrono::Utc::now();
    for feature in limits::rule_features(&new.rules) {
        limits::require(&mut tx, &state.billing, owner, feature).await?;
    }
    let ask = Ask::Code {
        id,
        dynamic: new.dynamic,
    };
    let admitted = limits::admit(&mut tx, state, owner, ask, now).await?;
    let mut attempt = 0;
    loop {
        let code = new.alias.clone().unwrap_or_else(ShortCode::generate);
        let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
        let res = db::qr_codes::insert(
            &mut sp,
            &NewQr {
                id,
                user_id: owner,
                project_id: new.project_id,
                name: &new.name,
                qr_type: new.qr_type.as_str(),
                dynamic: new.dynamic,
                short_code: code.as_str(),
                custom_alias: new.alias.is_some(),
                target_url: new.target_url.as_ref().map(TargetUrl::as_str),
                design: &design_json,
                template_id: new.design.frame.as_ref().and_then(|f| f.template_id),
                product_id,
                variant_id,
                utm: &utm,
                rules: &rules,
                targets: targets.as_ref(),
                type_data: &type_data,
                domain_id,
            },
        )
        .await;
        match res {
            Ok(()) => {
                sp.commit().await?;
                break;
            }
            Err(e) if db::is_unique_violation(&e) && new.alias.is_some() => {
                return Err(ApiError::Conflict {
                    code: "alias_taken",
                    message: "this alias is already in use".into(),
                });
            }
            Err(e) if db::is_unique_violation(&e) && attempt < 5 => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
    let row = db::qr_codes::get(&mut *tx, owner, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let payload = payload(&mut tx, &state.settings, &row).await?;
    let field = if new.qr_type == QrType::Url && !new.dynamic {
        "target_url"
    } else {
        "data"
    };
    check_fits(state, &payload, &new.design, field).await?;
    let actor = origin.actor(Some(p));
    versions::record(&mut tx, &actor, None, &row, Via::Direct).await?;
    audit::record(
        &mut tx,
        &actor,
        Change::created("qr_code.create", "qr_code", id, &snapshot(&row)),
    )
    .await?;
    let mut pending = admitted;
    let event = event_data(&state.settings, &row);
    pending.merge(notify::events::emit(&mut tx, owner, EventType::QrCodeCreated, &event).await?);
    tx.commit().await?;
    pending.dispatch(state).await;
    code_changed(state, id, &row.short_code).await;
    Ok(Code { row, payload })
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<Code> {
    let row = db::qr_codes::get(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut conn = state.db.acquire().await?;
    let payload = payload(&mut conn, &state.settings, &row).await?;
    Ok(Code { row, payload })
}

pub async fn list(
    state: &AppState,
    p: &Principal,
    filter: &QrFilter<'_>,
    w: Window,
) -> ApiResult<Paged<Code>> {
    let paged = db::qr_codes::list(&state.db, p.user.id, filter, w).await?;
    let mut conn = state.db.acquire().await?;
    let mut items = Vec::with_capacity(paged.items.len());
    for row in paged.items {
        let payload = payload(&mut conn, &state.settings, &row).await?;
        items.push(Code { row, payload });
    }
    Ok(Paged {
        items,
        total: paged.total,
    })
}

pub async fn update(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    patch: CodePatch,
) -> ApiResult<Code> {
    apply(state, origin, p, id, patch, Via::Direct).await
}

/// Whether the code splits its visitors between weighted targets — its own `targets`, or a
/// rule's `split` — so its scans carry a variant worth reporting.
pub fn splits_visitors(row: &QrRow) -> bool {
    row.targets.is_some()
        || serde_json::from_value::<Vec<crate::domain::rules::Rule>>(row.rules.clone()).is_ok_and(
            |rules| {
                rules
                    .iter()
                    .any(|r| matches!(r.then, crate::domain::rules::Action::Split(_)))
            },
        )
}

/// How a change of a code came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Asked for directly (a create, a PATCH).
    Direct,
    /// The restore of this version.
    Restore(i32),
    /// This scheduled change, applied by the scheduler.
    Schedule(Uuid),
}

/// A change of a code, however it came about.
async fn apply(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    mut patch: CodePatch,
    via: Via,
) -> ApiResult<Code> {
    let owner = p.user.id;
    if let Some(rules) = &mut patch.rules {
        hash_rule_passwords(rules).await?;
    }
    let mut tx = state.db.begin().await?;
    let before = db::qr_codes::get_for_update(&mut *tx, owner, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if before.status == "blocked" {
        return Err(ApiError::Forbidden(
            "this code was blocked by an administrator",
        ));
    }
    let t = qr_type(&before)?;
    let mut design = patch.design.unwrap_or_else(|| design(&before));
    let data = match patch.data {
        Some(d) => d,
        None => {
            let stored = before.type_data.clone().unwrap_or_default();
            QrData::parse(t, &stored)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("stored data invalid: {e:?}")))?
        }
    };
    let project_id = patch.project_id.unwrap_or(before.project_id);
    check_refs(&mut tx, owner, project_id, None, &mut design, &data).await?;
    let target_url = patch
        .target_url
        .as_ref()
        .map(TargetUrl::as_str)
        .or(before.target_url.as_deref());
    // Destinations this change sets (unchanged ones were checked when they were set; a
    // blocklist entry added since blocked those codes already).
    let new_targets = patch
        .targets
        .as_ref()
        .and_then(|t| t.as_deref())
        .unwrap_or(&[]);
    let urls = destinations(
        patch.target_url.as_ref().map(TargetUrl::as_str),
        new_targets,
        patch.rules.as_deref().unwrap_or(&[]),
    );
    crate::abuse::blocklist::refuse_blocked(&mut tx, state, &urls).await?;
    let design_json = serde_json::to_value(&design).map_err(ApiError::internal)?;
    let (product_id, variant_id) = product_links(&data);
    let rules = match patch.rules {
        Some(r) => {
            let json = serde_json::to_value(&r).map_err(ApiError::internal)?;
            // Rules kept as they were stay, whatever the plan now; new ones need its features.
            if json != before.rules {
                for feature in limits::rule_features(&r) {
                    limits::require(&mut tx, &state.billing, owner, feature).await?;
                }
            }
            json
        }
        None => before.rules.clone(),
    };
    if patch.status == Some(Status::Active) && before.status == "paused" && before.dynamic {
        let now = chrono::Utc::now();
        // Reactivating creates nothing: no quota notices.
        let _ = limits::admit(&mut tx, state, owner, Ask::Reactivate, now).await?;
    }
    let utm = match patch.utm {
        Some(u) => serde_json::to_value(&u).map_err(ApiError::internal)?,
        None => before.utm.clone(),
    };
    let targets = match &patch.targets {
        Some(Some(list)) => Some(serde_json::to_value(list).map_err(ApiError::internal)?),
        Some(None) => None,
        None => before.targets.clone(),
    };
    let domain_id = match patch.domain_id {
        Some(Some(d)) if Some(d) == before.domain_id => Some(d),
        Some(Some(d)) => Some(checked_domain(&mut tx, owner, d).await?),
        Some(None) => None,
        None => before.domain_id,
    };
    let status = match patch.status {
        Some(Status::Active) => "active",
        Some(Status::Paused) => "paused",
        None => before.status.as_str(),
    };
    db::qr_codes::update(
        &mut tx,
        id,
        &QrUpdate {
            name: patch
                .name
                .as_deref()
                .or(before.name.as_deref())
                .unwrap_or(""),
            project_id,
            target_url,
            design: &design_json,
            status,
            product_id,
            variant_id,
            utm: &utm,
            rules: &rules,
            targets: targets.as_ref(),
            type_data: &data.to_json(),
            domain_id,
        },
    )
    .await?;
    let after = db::qr_codes::get(&mut *tx, owner, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let payload = payload(&mut tx, &state.settings, &after).await?;
    check_fits(state, &payload, &design, "data").await?;
    let actor = origin.actor(Some(p));
    let version = versions::record(&mut tx, &actor, Some(&before), &after, via).await?;
    if let Via::Schedule(schedule) = via
        && !db::schedules::mark_applied(&mut *tx, schedule, version).await?
    {
        // Applied by another scheduler, or cancelled meanwhile: this change must not happen.
        return Err(ApiError::Conflict {
            code: "schedule_not_pending",
            message: "the scheduled change is no longer pending".into(),
        });
    }
    audit::record(
        &mut tx,
        &actor,
        Change::updated(
            match via {
                Via::Direct => "qr_code.update",
                Via::Restore(_) => "qr_code.restore",
                Via::Schedule(_) => "qr_code.scheduled_change",
            },
            "qr_code",
            id,
            &snapshot(&before),
            &snapshot(&after),
        ),
    )
    .await?;
    let event = event_data(&state.settings, &after);
    let pending = notify::events::emit(&mut tx, owner, EventType::QrCodeUpdated, &event).await?;
    tx.commit().await?;
    pending.dispatch(state).await;
    code_changed(state, id, &after.short_code).await;
    Ok(Code {
        row: after,
        payload,
    })
}

/// Soft delete: the row stays (analytics, audit), the code stops resolving and listing.
pub async fn delete(state: &AppState, origin: &Origin, p: &Principal, id: Uuid) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let before = db::qr_codes::get_for_update(&mut *tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    db::qr_codes::soft_delete(&mut *tx, id).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::deleted("qr_code.delete", "qr_code", id, &snapshot(&before)),
    )
    .await?;
    let mut event = event_data(&state.settings, &before);
    event.status = "deleted".into();
    let pending =
        notify::events::emit(&mut tx, p.user.id, EventType::QrCodeDeleted, &event).await?;
    tx.commit().await?;
    pending.dispatch(state).await;
    code_changed(state, id, &before.short_code).await;
    Ok(())
}

/// A code as `qr_code.*` webhook events show it.
pub fn event_data(settings: &Settings, r: &QrRow) -> QrCodeData {
    QrCodeData {
        id: r.id,
        name: r.name.clone(),
        qr_type: r.qr_type.clone(),
        dynamic: r.dynamic,
        short_code: r.short_code.clone(),
        short_url: short_url(settings, r.domain_host.as_deref(), &r.short_code),
        target_url: r.target_url.clone(),
        status: r.status.clone(),
        project_id: r.project_id,
        updated_at: r.updated_at,
    }
}

/// After a code's change has committed: drop it from every replica's caches (redirect, images —
/// also a negatively cached short code) and queue the copy of its metadata to ClickHouse.
pub async fn code_changed(state: &AppState, id: Uuid, short_code: &str) {
    state
        .bus
        .publish(Invalidate::Code {
            id,
            short_code: short_code.to_owned(),
        })
        .await;
    sync_metadata(state, id).await;
}

/// Queues the copy of a code's metadata to ClickHouse. Never fails the change (it has committed);
/// a lost enqueue leaves the copy stale until the code's next change.
async fn sync_metadata(state: &AppState, qr_id: Uuid) {
    let job = qrsaas_jobs::SyncQrMetadata {
        qr_id,
        version: chrono::Utc::now(),
    };
    if let Err(e) = state.queues.enqueue(job).await {
        metrics::counter!("enqueue_failures_total", "queue" => "qr-metadata").increment(1);
        tracing::warn!(%qr_id, error = %e, "could not enqueue the metadata sync");
    }
}
