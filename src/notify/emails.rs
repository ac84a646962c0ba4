//! The e-mail outbox: messages are written to Postgres in the transaction of the change that
//! causes them, then a `SendEmail` job is enqueued after commit. A lost enqueue (Redis down at that
//! moment) is recovered by the `RequeueEmails` maintenance run, so no e-mail is lost.
//!
//! Every message has a plain-text and an HTML part rendered from templates (`templates/`,
//! minijinja, HTML auto-escaped) in the recipient's white-label branding. Alerts a preference
//! governs carry a one-click unsubscribe (RFC 8058 `List-Unsubscribe` and
//! `List-Unsubscribe-Post`) that turns that preference off.

use chrono::{DateTime, NaiveDate, Utc};
use fluent_bundle::FluentValue;
use hmac::{Hmac, Mac};
use minijinja::value::Kwargs;
use minijinja::{AutoEscape, Environment, State, Value, context};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use crate::config::Settings;
use crate::db::{self, emails::NewEmail, statements::StatementRow, users::UserRow};
use crate::domain::Branding;
use crate::domain::plan::Plan;
use crate::error::{ApiError, ApiResult};
use crate::i18n::{Lang, arg};
use crate::state::AppState;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("layout.txt", include_str!("templates/layout.txt")),
    ("welcome.html", include_str!("templates/welcome.html")),
    (
        "password_reset.html",
        include_str!("templates/password_reset.html"),
    ),
    (
        "password_reset.txt",
        include_str!("templates/password_reset.txt"),
    ),
    (
        "verify_email.html",
        include_str!("templates/verify_email.html"),
    ),
    (
        "verify_email.txt",
        include_str!("templates/verify_email.txt"),
    ),
    ("welcome.txt", include_str!("templates/welcome.txt")),
    (
        "export_ready.html",
        include_str!("templates/export_ready.html"),
    ),
    (
        "export_ready.txt",
        include_str!("templates/export_ready.txt"),
    ),
    (
        "account_export_ready.html",
        include_str!("templates/account_export_ready.html"),
    ),
    (
        "account_export_ready.txt",
        include_str!("templates/account_export_ready.txt"),
    ),
    (
        "usage_statement.html",
        include_str!("templates/usage_statement.html"),
    ),
    (
        "usage_statement.txt",
        include_str!("templates/usage_statement.txt"),
    ),
    (
        "usage_alert.html",
        include_str!("templates/usage_alert.html"),
    ),
    ("usage_alert.txt", include_str!("templates/usage_alert.txt")),
    (
        "payment_failed.html",
        include_str!("templates/payment_failed.html"),
    ),
    (
        "payment_failed.txt",
        include_str!("templates/payment_failed.txt"),
    ),
    ("plan_ended.html", include_str!("templates/plan_ended.html")),
    ("plan_ended.txt", include_str!("templates/plan_ended.txt")),
    (
        "credits_added.html",
        include_str!("templates/credits_added.html"),
    ),
    (
        "credits_added.txt",
        include_str!("templates/credits_added.txt"),
    ),
    (
        "scan_milestone.html",
        include_str!("templates/scan_milestone.html"),
    ),
    (
        "scan_milestone.txt",
        include_str!("templates/scan_milestone.txt"),
    ),
    (
        "weekly_summary.html",
        include_str!("templates/weekly_summary.html"),
    ),
    (
        "weekly_summary.txt",
        include_str!("templates/weekly_summary.txt"),
    ),
    ("job_failed.html", include_str!("templates/job_failed.html")),
    ("job_failed.txt", include_str!("templates/job_failed.txt")),
    (
        "webhook_disabled.html",
        include_str!("templates/webhook_disabled.html"),
    ),
    (
        "webhook_disabled.txt",
        include_str!("templates/webhook_disabled.txt"),
    ),
    (
        "domain_failing.html",
        include_str!("templates/domain_failing.html"),
    ),
    (
        "domain_failing.txt",
        include_str!("templates/domain_failing.txt"),
    ),
];

/// A preference an e-mail can be unsubscribed from (the names of `notifications` in settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pref {
    ScanAlerts,
    WeeklySummary,
    MonthlyStatement,
    JobFailures,
    UsageAlerts,
}

impl Pref {
    pub fn as_str(self) -> &'static str {
        match self {
            Pref::ScanAlerts => "scan_alerts",
            Pref::WeeklySummary => "weekly_summary",
            Pref::MonthlyStatement => "monthly_statement",
            Pref::JobFailures => "job_failures",
            Pref::UsageAlerts => "usage_alerts",
        }
    }

    pub fn parse(s: &str) -> Option<Pref> {
        [
            Pref::ScanAlerts,
            Pref::WeeklySummary,
            Pref::MonthlyStatement,
            Pref::JobFailures,
            Pref::UsageAlerts,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// Why the recipient gets it: a message id of the catalogue.
    fn reason(self) -> &'static str {
        match self {
            Pref::ScanAlerts => "mail-reason-scan-alerts",
            Pref::WeeklySummary => "mail-reason-weekly-summary",
            Pref::MonthlyStatement => "mail-reason-monthly-statement",
            Pref::JobFailures => "mail-reason-job-failures",
            Pref::UsageAlerts => "mail-reason-usage-alerts",
        }
    }
}

/// Templates, and the key that signs unsubscribe links.
pub struct Mailer {
    env: Environment<'static>,
    base: String,
    signer: Hmac<Sha256>,
}

impl Mailer {
    /// Fails on a template that does not compile: better at start than on the first alert.
    pub fn new(s: &Settings) -> anyhow::Result<Mailer> {
        let mut env = Environment::new();
        env.add_function("t", translate);
        env.add_filter("b", |v: Value| wrap("b", v));
        env.add_filter("code", |v: Value| wrap("code", v));
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        let mut signer = Hmac::<Sha256>::new_from_slice(
            secrecy::ExposeSecret::expose_secret(&s.secret_key).as_bytes(),
        )?;
        signer.update(b"qrsaas unsubscribe\0");
        Ok(Mailer {
            env,
            base: s.public_base_url.trim_end_matches('/').to_owned(),
            signer,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn token(&self, user: Uuid, pref: Pref) -> String {
        let mut mac = self.signer.clone();
        mac.update(format!("{user}:{}", pref.as_str()).as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The one-click unsubscribe link of `user`'s `pref`.
    pub fn unsubscribe_url(&self, user: Uuid, pref: Pref) -> String {
        self.url(&format!(
            "/api/v1/unsubscribe?u={user}&p={}&t={}",
            pref.as_str(),
            self.token(user, pref)
        ))
    }

    /// Whether `token` is the link's signature (compared in constant time).
    pub fn verify_unsubscribe(&self, user: Uuid, pref: Pref, token: &str) -> bool {
        let Ok(given) = hex::decode(token) else {
            return false;
        };
        let mut mac = self.signer.clone();
        mac.update(format!("{user}:{}", pref.as_str()).as_bytes());
        mac.verify_truncated_left(&given).is_ok() && given.len() == 16
    }

    fn render(&self, kind: &str, ctx: &Value) -> anyhow::Result<(String, String)> {
        let text = self.env.get_template(&format!("{kind}.txt"))?.render(ctx)?;
        let html = self
            .env
            .get_template(&format!("{kind}.html"))?
            .render(ctx)?;
        Ok((text, html))
    }
}

/// `t(id, name=value, …)` in a template: the catalogue's message in the recipient's language
/// (`lang` in the context). In HTML templates each argument is escaped unless it is already
/// safe markup (`|b`), and the message is inserted as markup: the catalogue's text is ours.
fn translate(state: &State, id: &str, kwargs: Kwargs) -> Result<Value, minijinja::Error> {
    let lang = Lang::from_tag(
        &state
            .lookup("lang")
            .map(|v| v.to_string())
            .unwrap_or_default(),
    );
    let html = matches!(state.auto_escape(), AutoEscape::Html);
    let mut args: Vec<(String, FluentValue<'static>)> = Vec::new();
    for key in kwargs.args() {
        let v: Value = kwargs.get(key)?;
        let arg = if html && !v.is_safe() && !v.is_number() {
            Value::from(crate::html::escape(&v.to_string()))
        } else {
            v
        };
        args.push((key.to_owned(), fluent_value(&arg)));
    }
    kwargs.assert_all_used()?;
    let args: Vec<(&str, FluentValue)> =
        args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let out = lang.t(id, &args);
    Ok(if html {
        Value::from_safe_string(out)
    } else {
        Value::from(out)
    })
}

/// Numbers stay numbers (Fluent picks plural forms by them); everything else is text.
fn fluent_value(v: &Value) -> FluentValue<'static> {
    match i64::try_from(v.clone()) {
        Ok(n) if v.is_number() => FluentValue::from(n),
        _ => FluentValue::from(v.to_string()),
    }
}

/// `x|b`, `x|code` (HTML templates only): the value, escaped, inside that element.
fn wrap(tag: &str, v: Value) -> Value {
    Value::from_safe_string(format!(
        "<{tag}>{}</{tag}>",
        crate::html::escape(&v.to_string())
    ))
}

#[derive(Serialize)]
struct Brand {
    name: String,
    color: String,
}

fn brand(b: &Branding) -> Brand {
    Brand {
        name: b.name.clone().unwrap_or_else(|| "qrsaas".into()),
        color: b.primary_color.clone().unwrap_or_else(|| "#1f6feb".into()),
    }
}

/// Renders `kind` for `user` in their language and branding (with the unsubscribe link of
/// `pref`, if any) and writes it into the outbox; returns its id. `ctx` builds the template's
/// values in the recipient's language; the subject is the catalogue's `{kind}-subject`, formatted
/// with the same values.
async fn compose(
    tx: &mut sqlx::PgConnection,
    mailer: &Mailer,
    user: &UserRow,
    kind: &str,
    pref: Option<Pref>,
    ctx: impl FnOnce(Lang) -> Value,
) -> ApiResult<Uuid> {
    compose_to(tx, mailer, user, &user.email, kind, pref, ctx).await
}

/// `compose` to another address than the account's (a new address being confirmed).
async fn compose_to(
    tx: &mut sqlx::PgConnection,
    mailer: &Mailer,
    user: &UserRow,
    to: &str,
    kind: &str,
    pref: Option<Pref>,
    ctx: impl FnOnce(Lang) -> Value,
) -> ApiResult<Uuid> {
    let settings = db::settings::get(&mut *tx, user.id).await?;
    let lang = Lang::from_tag(&settings.locale);
    let branding: Branding = serde_json::from_value(settings.branding).unwrap_or_default();
    let unsubscribe = pref.map(|p| mailer.unsubscribe_url(user.id, p));
    let ctx = ctx(lang);
    let subject = subject(lang, kind, &ctx);
    let there = lang.text("mail-there");
    let full = context! {
        lang => lang.tag(),
        name => user.name.as_deref().unwrap_or(&there),
        brand => Value::from_serialize(brand(&branding)),
        unsubscribe_url => unsubscribe.clone(),
        reason => pref.map(Pref::reason),
        ..ctx
    };
    let (text, html) = mailer.render(kind, &full).map_err(ApiError::internal)?;
    let headers = match &unsubscribe {
        Some(url) => serde_json::json!({
            "List-Unsubscribe": format!("<{url}>"),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }),
        None => serde_json::json!({}),
    };
    let id = Uuid::now_v7();
    db::emails::insert(
        tx,
        &NewEmail {
            id,
            user_id: Some(user.id),
            kind,
            to_address: to,
            subject: &subject,
            body_text: &text,
            body_html: Some(&html),
            headers: &headers,
        },
    )
    .await?;
    Ok(id)
}

/// The subject line: `{kind}-subject` with the e-mail's plain values as arguments.
fn subject(lang: Lang, kind: &str, ctx: &Value) -> String {
    let args: Vec<(String, FluentValue<'static>)> = ctx
        .try_iter()
        .into_iter()
        .flatten()
        .filter_map(|k| {
            let v = ctx.get_item(&k).ok()?;
            (v.is_number() || v.as_str().is_some()).then(|| (k.to_string(), fluent_value(&v)))
        })
        .collect();
    let args: Vec<(&str, FluentValue)> =
        args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    lang.t(&format!("{kind}-subject"), &args)
}

/// Writes the welcome e-mail for a new user into the outbox; returns its id.
pub async fn welcome(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
) -> ApiResult<Uuid> {
    let docs_url = state.settings.public_url("/docs");
    let ctx = |_| context! { email => &user.email, docs_url };
    compose(tx, &state.mail, user, "welcome", None, ctx).await
}

/// The password-reset link (one hour, single use).
pub async fn password_reset(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    url: &str,
) -> ApiResult<Uuid> {
    let ctx = |_| context! { email => &user.email, url };
    compose(tx, &state.mail, user, "password_reset", None, ctx).await
}

/// The link that confirms `address` belongs to `user` (sign-up, or a change of address, in
/// which case it goes to the new address).
pub async fn verify_email(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    address: &str,
    url: &str,
    hours: i64,
) -> ApiResult<Uuid> {
    let change = address != user.email;
    let ctx = |_| context! { address, url, hours, change };
    compose_to(tx, &state.mail, user, address, "verify_email", None, ctx).await
}

/// "Your export is ready". Called in the transaction that marks the export succeeded, which
/// happens once per job.
pub async fn export_ready(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    codes: i32,
    url: &str,
    expires: &str,
) -> ApiResult<Uuid> {
    let ctx = |_| context! { codes, url, expires };
    compose(tx, &state.mail, user, "export_ready", None, ctx).await
}

/// "Your data is ready" (the account export). Once per job, like `export_ready`.
pub async fn account_export_ready(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    url: &str,
    expires: &str,
) -> ApiResult<Uuid> {
    let ctx = |_| context! { url, expires };
    compose(tx, &state.mail, user, "account_export_ready", None, ctx).await
}

/// Enqueues delivery of an outbox e-mail. Never fails the caller: the change is committed and the
/// outbox sweep retries a lost enqueue.
pub async fn dispatch(state: &AppState, email_id: Uuid) {
    super::Pending::email(email_id).dispatch(state).await;
}

/// A monthly usage statement. Called in the transaction that writes the statement row, which
/// happens once per user and month.
pub async fn statement(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    s: &StatementRow,
    plan: &Plan,
) -> ApiResult<Uuid> {
    let month = s.month.format("%B %Y").to_string();
    let l = &plan.limits;
    let usage_url = state.settings.public_url("/api/v1/billing/statements");
    let ctx = |lang: Lang| {
        let of = |n: i64, limit: Option<u64>| match limit {
            Some(l) => lang.t("usage_statement-of", &[("n", arg(n)), ("limit", arg(l))]),
            None => n.to_string(),
        };
        let scans = match s.scans_over_quota {
            0 => of(s.scans, l.scans_per_month),
            over => lang.t(
                "usage_statement-over",
                &[
                    ("value", arg(of(s.scans, l.scans_per_month))),
                    ("over", arg(over)),
                ],
            ),
        };
        let rows = vec![
            (lang.text("usage_statement-plan"), plan.name.clone()),
            (lang.text("usage_statement-scans"), scans),
            (
                lang.text("usage_statement-codes"),
                of(i64::from(s.codes_created), l.codes_per_month),
            ),
            (
                lang.text("usage_statement-exports"),
                of(i64::from(s.exports), l.exports_per_month),
            ),
            (
                lang.text("usage_statement-credits"),
                s.credits_spent.to_string(),
            ),
        ];
        context! { month => &month, rows, usage_url }
    };
    let pref = Some(Pref::MonthlyStatement);
    compose(tx, &state.mail, user, "usage_statement", pref, ctx).await
}

/// What a usage alert says.
pub struct UsageAlert<'a> {
    pub quota: &'a str,
    pub threshold: i32,
    pub used: i64,
    pub limit: u64,
    pub plan: &'a str,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

/// "You have used 80 % / 100 % of a quota": once per account, period, quota and threshold.
pub async fn usage_alert(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    a: &UsageAlert<'_>,
) -> ApiResult<Uuid> {
    let url = state.settings.public_url("/api/v1/billing/subscription");
    let ctx = |lang: Lang| {
        let what = lang.text(&format!("quota-{}", a.quota));
        let (headline, next) = if a.threshold >= 100 {
            (
                lang.t("usage_alert-reached", &[("what", arg(what))]),
                if a.quota == "scans_per_month" {
                    lang.text("usage_alert-scans-go-on")
                } else {
                    lang.text("usage_alert-refused")
                },
            )
        } else {
            (
                lang.t(
                    "usage_alert-used",
                    &[("what", arg(what)), ("threshold", arg(a.threshold))],
                ),
                lang.text("usage_alert-not-yet"),
            )
        };
        context! {
            headline, next, plan => a.plan, used => a.used, limit => a.limit,
            period_start => a.period_start.to_string(), period_end => a.period_end.to_string(),
            url,
        }
    };
    let pref = Some(Pref::UsageAlerts);
    compose(tx, &state.mail, user, "usage_alert", pref, ctx).await
}

/// A subscription payment failed: the plan is kept until `grace_ends`.
pub async fn payment_failed(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    plan: &str,
    grace_ends: DateTime<Utc>,
    hint: &str,
) -> ApiResult<Uuid> {
    let until = grace_ends.format("%Y-%m-%d %H:%M UTC").to_string();
    let ctx = |_| context! { plan, until, hint };
    compose(tx, &state.mail, user, "payment_failed", None, ctx).await
}

/// The grace period ended without payment: the account is on `fallback` now.
pub async fn plan_ended(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    plan: &str,
    fallback: &str,
) -> ApiResult<Uuid> {
    let ctx = |_| context! { plan, fallback };
    compose(tx, &state.mail, user, "plan_ended", None, ctx).await
}

/// Credits bought through Checkout were added.
pub async fn credits_added(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    credits: u32,
    balance: i64,
) -> ApiResult<Uuid> {
    let ctx = |_| context! { credits, balance };
    compose(tx, &state.mail, user, "credits_added", None, ctx).await
}

/// A code reached a scan milestone.
pub async fn scan_milestone(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    m: &super::events::MilestoneData,
) -> ApiResult<Uuid> {
    let name = m.name.clone().unwrap_or_else(|| m.short_code.clone());
    let ctx = |_| {
        context! {
            code_name => &name, milestone => m.milestone,
            short_url => state.settings.public_url(&format!("/r/{}", m.short_code)),
            analytics_url => state.settings.public_url(&format!("/api/v1/qr-codes/{}/analytics", m.qr_id)),
        }
    };
    let pref = Some(Pref::ScanAlerts);
    compose(tx, &state.mail, user, "scan_milestone", pref, ctx).await
}

/// A code's scans in a weekly summary.
#[derive(Debug, Clone, Serialize)]
pub struct TopCode {
    pub name: String,
    pub scans: u64,
}

/// Last week's scans against the week before.
pub async fn weekly_summary(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    week_start: NaiveDate,
    scans: u64,
    previous: u64,
    top: Vec<TopCode>,
) -> ApiResult<Uuid> {
    let week_end = week_start + chrono::Days::new(6);
    let analytics_url = state.settings.public_url("/api/v1/analytics");
    let ctx = |lang: Lang| {
        let change = match (scans, previous) {
            (_, 0) if scans == 0 => lang.text("weekly_summary-no-change"),
            (_, 0) => lang.text("weekly_summary-up-from-none"),
            (s, p) => {
                let pct = (s as f64 - p as f64) * 100.0 / p as f64;
                format!("{}{pct:.0}%", if pct >= 0.0 { "+" } else { "" })
            }
        };
        context! {
            week_start => week_start.to_string(), week_end => week_end.to_string(), scans,
            previous, change, top, analytics_url,
        }
    };
    let pref = Some(Pref::WeeklySummary);
    compose(tx, &state.mail, user, "weekly_summary", pref, ctx).await
}

/// A job spent its retries.
pub async fn job_failed(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    job: &super::events::JobFailedData,
) -> ApiResult<Uuid> {
    let job_url = state
        .settings
        .public_url(&format!("/api/v1/jobs/{}", job.job_id));
    let ctx = |lang: Lang| {
        context! {
            kind => lang.text(&format!("job-kind-{}", job.kind)), job_id => job.job_id.to_string(),
            attempts => job.attempts, error => &job.error, job_url,
        }
    };
    let pref = Some(Pref::JobFailures);
    compose(tx, &state.mail, user, "job_failed", pref, ctx).await
}

/// We turned a webhook endpoint off.
pub async fn webhook_disabled(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    url: &str,
    reason: &str,
) -> ApiResult<Uuid> {
    let ctx = |lang: Lang| {
        let why = match reason {
            "gone" => lang.text("webhook_disabled-gone"),
            _ => lang.text("webhook_disabled-failing"),
        };
        context! { url, why }
    };
    compose(tx, &state.mail, user, "webhook_disabled", None, ctx).await
}

/// A custom domain stopped verifying (flagged `failing`; its codes still answer).
pub async fn domain_failing(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    d: &crate::db::domains::DomainRow,
) -> ApiResult<Uuid> {
    let ctx = |_| {
        context! {
            domain => &d.domain,
            error => d.error.as_deref().unwrap_or_default(),
            txt_name => crate::domains::txt_name(&d.domain),
            txt_value => crate::domains::txt_value(&d.token),
            verify => format!("POST /api/v1/domains/{}/verify", d.id),
        }
    };
    compose(tx, &state.mail, user, "domain_failing", None, ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_escaped_with_unsubscribe_links_that_verify() {
        let m = Mailer::new(&Settings::default()).unwrap();
        let user = Uuid::now_v7();
        let url = m.unsubscribe_url(user, Pref::ScanAlerts);
        let ctx = context! {
            name => "<Ann>", email => "a@example.com", docs_url => "http://x/docs",
            brand => context! { name => "Cafe & Co", color => "#123456" },
            unsubscribe_url => &url, reason => Pref::ScanAlerts.reason(), lang => "en",
        };
        let (text, html) = m.render("welcome", &ctx).unwrap();
        assert!(text.contains("Hi <Ann>,") && text.contains(&url), "{text}");
        assert!(
            html.contains("Hi &lt;Ann&gt;,") && html.contains("Cafe &amp; Co"),
            "{html}"
        );
        assert!(html.contains("#123456"));
        let token = url.rsplit("t=").next().unwrap();
        assert!(m.verify_unsubscribe(user, Pref::ScanAlerts, token));
        assert!(!m.verify_unsubscribe(user, Pref::WeeklySummary, token));
        assert!(!m.verify_unsubscribe(Uuid::now_v7(), Pref::ScanAlerts, token));
    }
}
