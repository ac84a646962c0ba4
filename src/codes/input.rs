//! What a create or change of a code may say, checked field by field (the API's bodies and
//! bulk-create rows alike).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::design::Design;
use crate::domain::rules::{self, Rule};
use crate::domain::utm::Utm;
use crate::domain::{
    QrData, QrType, ShortCode, TargetPolicy, TargetUrl, WeightedTarget, bounded_text, parse_targets,
};
use crate::error::{ApiResult, FieldErrors};

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
    /// A dynamic url code's weighted targets (2–10), instead of `target_url`: each visitor is
    /// sent to one, the same all day.
    #[schema(value_type = Option<Vec<crate::domain::WeightedTarget>>)]
    pub targets: Option<serde_json::Value>,
    /// A dynamic code's custom domain (a verified one of the account's): its short URL and
    /// image use it. Omitted: the account's default domain, if any; null: this service's host.
    #[serde(default, deserialize_with = "crate::domain::strict::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub domain_id: Option<Option<Uuid>>,
}

/// A custom domain asked of a static code (which encodes its content, not a short URL).
fn static_domain(errors: &mut FieldErrors, dynamic: bool, asked: Option<Option<Uuid>>) {
    if !dynamic && matches!(asked, Some(Some(_))) {
        errors.insert(
            "domain_id".into(),
            "custom domains are for dynamic codes".into(),
        );
    }
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
    // Weighted targets stand in for target_url (which keeps the first, for every reader of one).
    let targets = match (&b.targets, b.qr_type, b.dynamic) {
        (None, _, _) => Some(None),
        (Some(_), QrType::Url, true) if b.target_url.is_some() => one(
            &mut e,
            "targets",
            Err("give target_url or targets, not both".into()),
        ),
        (Some(t), QrType::Url, true) => take(&mut e, parse_targets(t, own)).map(Some),
        (Some(_), _, _) => one(
            &mut e,
            "targets",
            Err("weighted targets are for dynamic url codes".into()),
        ),
    };
    let first = targets
        .as_ref()
        .and_then(|t| t.as_ref())
        .and_then(|t| t.first());
    let target_url = match first {
        Some(t) => TargetUrl::parse(&t.url, own).ok(),
        None => target(&mut e, b.qr_type, b.target_url.as_deref(), own),
    };
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
    static_domain(&mut e, b.dynamic, b.domain_id);
    let (Some(name), Some(data), Some(design), Some(alias), Some(rules), Some(utm), Some(targets)) =
        (name, data, design, alias, rules, utm, targets)
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
        targets,
        utm,
        domain_id: b.domain_id,
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
    pub targets: Option<Vec<WeightedTarget>>,
    /// `None`: the account's default domain; `Some(None)`: this service's host.
    pub domain_id: Option<Option<Uuid>>,
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
    /// `Some(Some(..))` sets weighted targets; `Some(None)` goes back to one (a new
    /// `target_url` alone does that).
    pub targets: Option<Option<Vec<WeightedTarget>>>,
    /// `Some(None)` moves the code back to this service's host.
    pub domain_id: Option<Option<Uuid>>,
}

/// A change of a code: the PATCH body, and what a scheduled change applies.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    pub name: Option<String>,
    pub target_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    #[schema(value_type = Option<Design>)]
    pub design: Option<serde_json::Value>,
    /// A project id, or null to take the code out of its project.
    #[serde(default, deserialize_with = "crate::domain::strict::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub project_id: Option<Option<Uuid>>,
    pub status: Option<Status>,
    #[schema(value_type = Option<Vec<crate::domain::rules::Rule>>)]
    pub rules: Option<serde_json::Value>,
    #[schema(value_type = Option<crate::domain::utm::Utm>)]
    pub utm: Option<serde_json::Value>,
    /// Weighted targets of a dynamic url code (2–10), replacing `target_url`.
    #[schema(value_type = Option<Vec<crate::domain::WeightedTarget>>)]
    pub targets: Option<serde_json::Value>,
    /// A verified domain of the account for the code's short URL, or null for this service's
    /// host. The old short URL keeps working while its domain stays verified.
    #[serde(default, deserialize_with = "crate::domain::strict::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub domain_id: Option<Option<Uuid>>,
}

/// The change `b` asks of `current`, checked field by field as a PATCH is.
pub fn parse_patch(
    current: &crate::db::qr_codes::QrRow,
    b: &PatchBody,
    own: &TargetPolicy,
) -> Result<CodePatch, FieldErrors> {
    let mut e = FieldErrors::new();
    let Some(t) = QrType::parse(&current.qr_type) else {
        e.insert("qr_type".into(), "the stored type is unknown".into());
        return Err(e);
    };
    static_domain(&mut e, current.dynamic, b.domain_id);
    let mut patch = CodePatch {
        project_id: b.project_id,
        domain_id: b.domain_id,
        status: b.status,
        ..CodePatch::default()
    };
    if let Some(n) = &b.name {
        patch.name = one(&mut e, "name", bounded_text(n, 200));
    }
    match (&b.target_url, &b.targets) {
        (Some(_), Some(_)) => {
            e.insert(
                "targets".into(),
                "give target_url or targets, not both".into(),
            );
        }
        (Some(_), None) => {
            patch.target_url = target(&mut e, t, b.target_url.as_deref(), own);
            patch.targets = Some(None);
        }
        (None, Some(v)) if current.dynamic && t == QrType::Url => {
            if let Some(list) = take(&mut e, parse_targets(v, own)) {
                patch.target_url = list
                    .first()
                    .and_then(|f| TargetUrl::parse(&f.url, own).ok());
                patch.targets = Some(Some(list));
            }
        }
        (None, Some(_)) => {
            e.insert(
                "targets".into(),
                "weighted targets are for dynamic url codes".into(),
            );
        }
        (None, None) => {}
    }
    if let Some(d) = &b.data {
        if t == QrType::Url {
            e.insert("data".into(), "url codes take target_url, not data".into());
        } else {
            patch.data = take(&mut e, QrData::parse(t, d));
        }
    }
    if let Some(d) = &b.design {
        patch.design = take(&mut e, Design::parse(d));
    }
    if let Some(u) = &b.utm {
        if current.dynamic && t == QrType::Url {
            patch.utm = take(&mut e, Utm::parse(u));
        } else {
            e.insert(
                "utm".into(),
                "UTM parameters apply to dynamic url codes".into(),
            );
        }
    }
    if let Some(r) = &b.rules {
        if current.dynamic {
            patch.rules = take(&mut e, rules::parse(r, own));
        } else {
            e.insert("rules".into(), "rules apply to dynamic codes".into());
        }
    }
    if e.is_empty() { Ok(patch) } else { Err(e) }
}

/// The redirect destinations of a code (its target, its rules' redirects) by field name.
pub(super) fn destinations<'a>(
    target: Option<&'a str>,
    targets: &'a [WeightedTarget],
    rules: &'a [Rule],
) -> Vec<(String, &'a str)> {
    let mut out: Vec<(String, &str)> = target
        .map(|t| ("target_url".to_owned(), t))
        .into_iter()
        .collect();
    for (i, t) in targets.iter().enumerate() {
        out.push((format!("targets[{i}].url"), t.url.as_str()));
    }
    for (i, r) in rules.iter().enumerate() {
        match &r.then {
            rules::Action::Redirect(url) => {
                out.push((format!("rules[{i}].then.redirect"), url.as_str()));
            }
            rules::Action::Split(list) => {
                for (j, t) in list.iter().enumerate() {
                    out.push((format!("rules[{i}].then.split[{j}].url"), t.url.as_str()));
                }
            }
            _ => {}
        }
    }
    out
}

/// Replaces plain-text passwords with their argon2id hashes (before the rules are stored).
pub(super) async fn hash_rule_passwords(rules: &mut [Rule]) -> ApiResult<()> {
    for r in rules {
        if let rules::Action::Password(pw) = &mut r.then
            && !rules::is_password_hash(pw)
        {
            *pw = crate::accounts::secrets::hash_password(std::mem::take(pw)).await?;
        }
    }
    Ok(())
}
