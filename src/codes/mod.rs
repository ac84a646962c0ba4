//! QR codes: create, list, read, change, delete, and render them.
//!
//! Dynamic codes encode their short URL (`/r/{code}`), so the target or data can change after
//! printing; static codes encode the payload itself. Every change is audited in its transaction.
//! Beside them: the merchant catalogue behind payment codes (`catalog`), frames and landing
//! pages (`templates`) and logo uploads (`uploads`).

pub mod cache;
pub mod catalog;
pub mod templates;
pub mod uploads;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::billing::limits::{self, Ask};
use crate::cache::Invalidate;
use crate::config::Settings;
use crate::db::qr_codes::{NewQr, QrFilter, QrRow, QrUpdate};
use crate::db::{self, Paged, Window};
use crate::domain::design::Design;
use crate::domain::qr::{JourneyType, Payee, PaymentData, upi_uri};
use crate::domain::rules::{self, Rule};
use crate::domain::utm::Utm;
use crate::domain::{QrData, QrType, ShortCode, TargetPolicy, TargetUrl, bounded_text};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::notify::{self, events::EventType, events::QrCodeData};
use crate::render::actor::{Fits, Render};
use crate::render::{Format, RenderError, Spec};
use crate::state::AppState;
use cache::{CachedImage, ImageKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Paused,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    pub name: String,
    pub qr_type: QrType,
    /// Dynamic codes encode their short URL and can be retargeted after printing.
    pub dynamic: bool,
    /// url codes: the http(s) target.
    pub target_url: Option<String>,
    /// Type-specific fields (see API.md).
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    #[schema(value_type = Option<Design>)]
    pub design: Option<serde_json::Value>,
    pub project_id: Option<Uuid>,
    /// A frame template applied to the design.
    pub template_id: Option<Uuid>,
    /// Custom short code for dynamic codes (4–64 of A–Z a–z 0–9 - _).
    pub alias: Option<String>,
    /// Redirect rules of a dynamic code, evaluated in order (first match wins).
    #[schema(value_type = Option<Vec<crate::domain::rules::Rule>>)]
    pub rules: Option<serde_json::Value>,
    /// UTM parameters added to the redirects of a dynamic url code.
    #[schema(value_type = Option<crate::domain::utm::Utm>)]
    pub utm: Option<serde_json::Value>,
}

pub fn take<T>(errors: &mut FieldErrors, r: Result<T, FieldErrors>) -> Option<T> {
    r.map_err(|e| errors.extend(e)).ok()
}

pub fn one<T>(errors: &mut FieldErrors, field: &str, r: Result<T, String>) -> Option<T> {
    r.map_err(|why| errors.insert(field.to_owned(), why)).ok()
}

/// The target of a url code: required for url codes, refused for every other type.
pub fn target(
    errors: &mut FieldErrors,
    t: QrType,
    raw: Option<&str>,
    own: &TargetPolicy,
) -> Option<TargetUrl> {
    match (t, raw) {
        (QrType::Url, Some(u)) => one(errors, "target_url", TargetUrl::parse(u, own)),
        (QrType::Url, None) => one(
            errors,
            "target_url",
            Err("is required for url codes".into()),
        ),
        (_, Some(_)) => one(
            errors,
            "target_url",
            Err("only url codes have a target_url".into()),
        ),
        (_, None) => None,
    }
}

/// Checks a create request (the API's body, or one row of a bulk create) field by field.
pub fn parse_input(b: CodeInput, own: &TargetPolicy) -> Result<NewCode, FieldErrors> {
    let mut e = FieldErrors::new();
    let name = one(&mut e, "name", bounded_text(&b.name, 200));
    let target_url = target(&mut e, b.qr_type, b.target_url.as_deref(), own);
    let data = match (b.qr_type, &b.data) {
        (QrType::Url, Some(d)) if !d.is_null() && d.as_object().is_none_or(|o| !o.is_empty()) => {
            one(
                &mut e,
                "data",
                Err("url codes take target_url, not data".into()),
            )
        }
        (t, d) => take(
            &mut e,
            QrData::parse(t, d.as_ref().unwrap_or(&serde_json::Value::Null)),
        ),
    };
    let design = take(
        &mut e,
        Design::parse(b.design.as_ref().unwrap_or(&serde_json::Value::Null)),
    );
    let alias = match (&b.alias, b.dynamic) {
        (Some(_), false) => one(&mut e, "alias", Err("aliases are for dynamic codes".into())),
        (Some(a), true) => one(&mut e, "alias", ShortCode::alias(a)).map(Some),
        (None, _) => Some(None),
    };
    let rules = match (&b.rules, b.dynamic) {
        (Some(_), false) => one(&mut e, "rules", Err("rules apply to dynamic codes".into())),
        (Some(r), true) => take(&mut e, crate::domain::rules::parse(r, own)),
        (None, _) => Some(Vec::new()),
    };
    let utm = match (&b.utm, b.qr_type, b.dynamic) {
        (Some(u), QrType::Url, true) => take(&mut e, Utm::parse(u)),
        (Some(_), _, _) => one(
            &mut e,
            "utm",
            Err("UTM parameters apply to dynamic url codes".into()),
        ),
        (None, _, _) => Some(Utm::default()),
    };
    let (Some(name), Some(data), Some(design), Some(alias), Some(rules), Some(utm)) =
        (name, data, design, alias, rules, utm)
    else {
        return Err(e);
    };
    if !e.is_empty() {
        return Err(e);
    }
    let new = NewCode {
        id: None,
        name,
        qr_type: b.qr_type,
        dynamic: b.dynamic,
        target_url,
        data,
        design,
        design_given: b.design.as_ref().is_some_and(|d| !d.is_null()),
        project_id: b.project_id,
        template_id: b.template_id,
        alias,
        rules,
        utm,
    };
    Ok(new)
}

pub struct NewCode {
    /// Preset id (bulk create: derived from the job and row, so a re-run finds its codes).
    pub id: Option<Uuid>,
    pub name: String,
    pub qr_type: QrType,
    pub dynamic: bool,
    pub target_url: Option<TargetUrl>,
    pub data: QrData,
    pub design: Design,
    /// The request named a design; without one, the owner's `default_design` applies.
    pub design_given: bool,
    pub project_id: Option<Uuid>,
    pub template_id: Option<Uuid>,
    pub alias: Option<ShortCode>,
    pub rules: Vec<Rule>,
    pub utm: Utm,
}

/// A partial change; `project_id: Some(None)` moves the code out of its project.
#[derive(Default)]
pub struct CodePatch {
    pub name: Option<String>,
    pub target_url: Option<TargetUrl>,
    pub data: Option<QrData>,
    pub design: Option<Design>,
    pub project_id: Option<Option<Uuid>>,
    pub status: Option<Status>,
    pub rules: Option<Vec<Rule>>,
    pub utm: Option<Utm>,
}

/// A code with the payload its image encodes.
pub struct Code {
    pub row: QrRow,
    pub payload: String,
}

pub fn short_url(settings: &Settings, code: &str) -> String {
    settings.public_url(&format!("/r/{code}"))
}

/// What targets may point at: never this service (its public host; loops), internal
/// addresses only if the operator allows them.
pub fn target_policy(settings: &Settings) -> TargetPolicy {
    let own = url::Url::parse(&settings.public_base_url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        });
    TargetPolicy {
        own_hosts: own.into_iter().collect(),
        allow_private: settings.targets.allow_private,
    }
}

fn qr_type(row: &QrRow) -> ApiResult<QrType> {
    QrType::parse(&row.qr_type)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown qr_type {}", row.qr_type)))
}

/// The redirect destinations of a code (its target, its rules' redirects) by field name.
fn destinations<'a>(target: Option<&'a str>, rules: &'a [Rule]) -> Vec<(String, &'a str)> {
    let mut out: Vec<(String, &str)> = target
        .map(|t| ("target_url".to_owned(), t))
        .into_iter()
        .collect();
    for (i, r) in rules.iter().enumerate() {
        if let crate::domain::rules::Action::Redirect(url) = &r.then {
            out.push((format!("rules[{i}].then.redirect"), url.as_str()));
        }
    }
    out
}

/// The owner's `default_design` (settings), for codes created without a design. It was
/// validated when saved; one that no longer parses (an older format) falls back to plain.
async fn default_design(conn: &mut sqlx::PgConnection, owner: Uuid) -> ApiResult<Design> {
    let prefs = db::settings::get(&mut *conn, owner).await?;
    let d = &prefs.default_design.0;
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
        .and_then(|d| serde_json::from_value(d.0.clone()).ok())
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

/// The UPI URI of a payment code: payee from the merchant profile, `tr`/`tn` naming the code,
/// product or variant.
async fn payment_payload(
    conn: &mut sqlx::PgConnection,
    owner: Uuid,
    short_code: &str,
    pd: &PaymentData,
) -> ApiResult<String> {
    let m = db::catalog::merchant(&mut *conn, owner)
        .await?
        .ok_or_else(|| {
            ApiError::field(
                "data",
                "payment codes need a merchant profile: PUT /api/v1/merchant first",
            )
        })?;
    let product = match pd.product_id {
        Some(id) => db::catalog::product(&mut *conn, owner, id).await?,
        None => None,
    };
    let variant = match pd.variant_id {
        Some(id) => db::catalog::product(&mut *conn, owner, id).await?,
        None => None,
    };
    let parent = match (&variant, &product) {
        (Some(v), None) => match v.parent_id {
            Some(pid) => db::catalog::product(&mut *conn, owner, pid).await?,
            None => None,
        },
        _ => None,
    };
    let short = |id: Uuid| id.simple().to_string()[..12].to_owned();
    let (reference, note) = match (
        pd.journey_type,
        &variant,
        product.as_ref().or(parent.as_ref()),
    ) {
        (JourneyType::VariantBased, Some(v), Some(p)) => (
            format!("V{}", short(v.id)),
            format!("{} / {}", p.name, v.name),
        ),
        (JourneyType::VariantBased, Some(v), None) => (format!("V{}", short(v.id)), v.name.clone()),
        (JourneyType::ProductBased, _, Some(p)) => (format!("P{}", short(p.id)), p.name.clone()),
        _ => (
            format!("QR{short_code}"),
            pd.label
                .clone()
                .or_else(|| pd.description.clone())
                .unwrap_or_else(|| format!("Payment to {}", m.display_name)),
        ),
    };
    let note: String = note.chars().take(80).collect();
    Ok(upi_uri(
        &Payee {
            vpa: &m.upi_vpa,
            name: &m.display_name,
            mcc: m.mcc.as_deref(),
            reference: &reference,
            note: &note,
        },
        pd.amount.as_deref(),
    ))
}

/// What the code's image encodes: its short URL when dynamic, else its content.
pub async fn payload(
    conn: &mut sqlx::PgConnection,
    settings: &Settings,
    row: &QrRow,
) -> ApiResult<String> {
    match payload_at_hand(settings, row)? {
        Some(p) => Ok(p),
        None => content(conn, row).await,
    }
}

/// The payload when it is made from the row alone — every code but a static payment code,
/// whose UPI URI needs the merchant profile and product from Postgres. Lets bulk renders skip
/// a connection checkout per code.
fn payload_at_hand(settings: &Settings, row: &QrRow) -> ApiResult<Option<String>> {
    if row.dynamic {
        return Ok(Some(short_url(settings, &row.short_code)));
    }
    content_at_hand(row)
}

/// The code's content in its standard form (URL, mailto:, vCard, UPI URI …), whether static or
/// dynamic; for a dynamic code this is what its landing page offers.
pub async fn content(conn: &mut sqlx::PgConnection, row: &QrRow) -> ApiResult<String> {
    if let Some(c) = content_at_hand(row)? {
        return Ok(c);
    }
    let owner = row.user_id.ok_or(ApiError::NotFound)?;
    match &stored_data(row)? {
        QrData::Payment(pd) => payment_payload(conn, owner, &row.short_code, pd).await,
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "no encoder for {}",
            row.qr_type
        ))),
    }
}

/// `content` when no Postgres read is needed (all types but payment); `None` for payments.
fn content_at_hand(row: &QrRow) -> ApiResult<Option<String>> {
    if qr_type(row)? == QrType::Url {
        return row
            .target_url
            .clone()
            .map(Some)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("url code without target")));
    }
    match &stored_data(row)? {
        QrData::Payment(_) => Ok(None),
        d => d
            .encode()
            .map(Some)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no encoder for {}", row.qr_type))),
    }
}

/// The validated data stored with a code.
pub fn stored_data(row: &QrRow) -> ApiResult<QrData> {
    let t = qr_type(row)?;
    let data = row
        .type_data
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_default();
    QrData::parse(t, &data)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored data invalid: {e:?}")))
}

/// Refuses a payload that does not fit in a code (checked on the render pool).
async fn check_fits(
    state: &AppState,
    payload: &str,
    design: &Design,
    field: &str,
) -> ApiResult<()> {
    match state
        .renderer
        .send(Fits(payload.to_owned(), design.effective_ec()))
        .await
    {
        Ok(()) => Ok(()),
        Err(e @ RenderError::TooLong(_)) => Err(ApiError::field(field, e.to_string())),
        Err(e) => Err(ApiError::internal(e)),
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
        data: r.type_data.as_ref().map(|d| &d.0),
        design: r.design_json.as_ref().map(|d| &d.0),
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
    let urls = destinations(new.target_url.as_ref().map(TargetUrl::as_str), &new.rules);
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
    let (product_id, variant_id) = product_links(&new.data);
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
                type_data: &type_data,
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
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
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
    mut patch: CodePatch,
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
            let stored = before
                .type_data
                .as_ref()
                .map(|d| d.0.clone())
                .unwrap_or_default();
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
    let urls = destinations(
        patch.target_url.as_ref().map(TargetUrl::as_str),
        patch.rules.as_deref().unwrap_or(&[]),
    );
    crate::abuse::blocklist::refuse_blocked(&mut tx, state, &urls).await?;
    let design_json = serde_json::to_value(&design).map_err(ApiError::internal)?;
    let (product_id, variant_id) = product_links(&data);
    let rules = match patch.rules {
        Some(r) => {
            let json = serde_json::to_value(&r).map_err(ApiError::internal)?;
            // Rules kept as they were stay, whatever the plan now; new ones need its features.
            if json != before.rules.0 {
                for feature in limits::rule_features(&r) {
                    limits::require(&mut tx, &state.billing, owner, feature).await?;
                }
            }
            json
        }
        None => before.rules.0.clone(),
    };
    if patch.status == Some(Status::Active) && before.status == "paused" && before.dynamic {
        let now = chrono::Utc::now();
        // Reactivating creates nothing: no quota notices.
        let _ = limits::admit(&mut tx, state, owner, Ask::Reactivate, now).await?;
    }
    let utm = match patch.utm {
        Some(u) => serde_json::to_value(&u).map_err(ApiError::internal)?,
        None => before.utm.0.clone(),
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
            type_data: &data.to_json(),
        },
    )
    .await?;
    let after = db::qr_codes::get(&mut *tx, owner, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let payload = payload(&mut tx, &state.settings, &after).await?;
    check_fits(state, &payload, &design, "data").await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::updated(
            "qr_code.update",
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
        short_url: short_url(settings, &r.short_code),
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

/// A rendered image, or "not modified" when the client's ETag still matches.
pub enum Image {
    Fresh {
        bytes: Bytes,
        etag: String,
        format: Format,
    },
    NotModified {
        etag: String,
    },
}

/// Renders a code, or serves it from the image cache. The ETag hashes everything the image
/// depends on (payload, design, caption, format, size). Cached entries are dropped on every
/// replica when the code changes, or when the owner's merchant profile or products change.
pub async fn image(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    format: Format,
    size: u32,
    if_none_match: Option<&str>,
) -> ApiResult<Image> {
    let key = ImageKey {
        qr_id: id,
        format,
        size,
    };
    let matches = |etag: &str| {
        if_none_match.is_some_and(|inm| inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    };
    let epoch = state.images.epoch();
    // Hot path: no database work at all. The owner check keeps the shared cache tenant-safe.
    if let Some(hit) = state.images.get(&key)
        && hit.owner == p.user.id
    {
        metrics::counter!("image_cache_hits_total").increment(1);
        if matches(&hit.etag) {
            return Ok(Image::NotModified {
                etag: hit.etag.clone(),
            });
        }
        return Ok(Image::Fresh {
            bytes: hit.bytes.clone(),
            etag: hit.etag.clone(),
            format,
        });
    }
    let row = db::qr_codes::get(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let spec = image_spec(state, &row, format, size).await?;
    let etag = etag(&spec);
    if matches(&etag) {
        return Ok(Image::NotModified { etag });
    }
    let bytes = draw(state, p.user.id, spec).await?;
    let cached = CachedImage {
        owner: p.user.id,
        etag: etag.clone(),
        bytes: bytes.clone(),
    };
    state.images.insert(epoch, key, cached);
    Ok(Image::Fresh {
        bytes,
        etag,
        format,
    })
}

/// Everything an image of `row` is drawn from but the logo's bytes (read by `draw`, so a
/// 304 never touches the store).
pub async fn image_spec(
    state: &AppState,
    row: &QrRow,
    format: Format,
    size: u32,
) -> ApiResult<Spec> {
    // Postgres only when the payload or the frame needs it: an export renders thousands.
    let payload = match payload_at_hand(&state.settings, row)? {
        Some(p) => p,
        None => payload(&mut *state.db.acquire().await?, &state.settings, row).await?,
    };
    let design = design(row);
    let (caption, caption_on_top) = match &design.frame {
        None => (None, false),
        Some(f) => {
            let template = match f.template_id {
                Some(tid) => db::templates::get(&state.db, tid).await?,
                None => None,
            };
            let (default, top) = template
                .as_ref()
                .map(templates::frame_caption)
                .unwrap_or((None, false));
            (
                f.text.clone().or(default).or_else(|| Some(String::new())),
                top,
            )
        }
    };
    Ok(Spec {
        payload,
        design,
        caption,
        caption_on_top,
        logo: None,
        format,
        size,
    })
}

/// The image's ETag: a hash of everything it is drawn from.
pub fn etag(spec: &Spec) -> String {
    let mut h = Sha256::new();
    for part in [
        spec.payload.as_str(),
        &serde_json::to_string(&spec.design).unwrap_or_default(),
        spec.caption.as_deref().unwrap_or("-"),
        spec.format.extension(),
        &spec.size.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("\"{}\"", hex::encode(&h.finalize()[..16]))
}

/// Reads the design's logo (one of `owner`'s uploads) and renders on the render pool (never on
/// the calling thread).
pub async fn draw(state: &AppState, owner: Uuid, mut spec: Spec) -> ApiResult<Bytes> {
    if let Some(upload) = spec.design.logo_upload_id {
        spec.logo = Some(crate::codes::uploads::read(state, owner, upload).await?.1);
    }
    match state.renderer.send(Render(spec)).await {
        Ok(b) => Ok(b),
        Err(e @ RenderError::TooLong(_)) => Err(ApiError::field("data", e.to_string())),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Replaces plain-text passwords with their argon2id hashes (before the rules are stored).
async fn hash_rule_passwords(rules: &mut [Rule]) -> ApiResult<()> {
    for r in rules {
        if let rules::Action::Password(pw) = &mut r.then
            && !rules::is_password_hash(pw)
        {
            *pw = crate::accounts::secrets::hash_password(std::mem::take(pw)).await?;
        }
    }
    Ok(())
}
