//! The e-mail outbox: messages are written to Postgres in the transaction of the change that
//! causes them, then a `SendEmail` job is enqueued after commit. A lost enqueue (Redis down at that
//! moment) is recovered by the `RequeueEmails` maintenance run, so no e-mail is lost.
//!
//! Every message has a plain-text and an HTML part rendered from templates (`templates/`,
//! minijinja, HTML auto-escaped) in the recipient's white-label branding. Alerts a preference
//! governs carry a one-click unsubscribe (RFC 8058 `List-Unsubscribe` and
//! `List-Unsubscribe-Post`) that turns that preference off.

use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use minijinja::{Environment, Value, context};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use crate::config::Settings;
use crate::db::{self, emails::NewEmail, statements::StatementRow, users::UserRow};
use crate::domain::Branding;
use crate::domain::plan::Plan;
use crate::error::{ApiError, ApiResult};
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

    fn reason(self) -> &'static str {
        match self {
            Pref::ScanAlerts => "scan alerts are on in your settings",
            Pref::WeeklySummary => "the weekly summary is on in your settings",
            Pref::MonthlyStatement => "monthly statements are on in your settings",
            Pref::JobFailures => "job-failure alerts are on in your settings",
            Pref::UsageAlerts => "usage alerts are on in your settings",
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

/// Renders `kind` for `user` in their branding (with the unsubscribe link of `pref`, if any)
/// and writes it into the outbox; returns its id.
async fn compose(
    tx: &mut sqlx::PgConnection,
    mailer: &Mailer,
    user: &UserRow,
    kind: &str,
    subject: &str,
    pref: Option<Pref>,
    ctx: Value,
) -> ApiResult<Uuid> {
    compose_to(tx, mailer, user, &user.email, kind, subject, pref, ctx).await
}

/// `compose` to another address than the account's (a new address being confirmed).
#[allow(clippy::too_many_arguments)]
async fn compose_to(
    tx: &mut sqlx::PgConnection,
    mailer: &Mailer,
    user: &UserRow,
    to: &str,
    kind: &str,
    subject: &str,
    pref: Option<Pref>,
    ctx: Value,
) -> ApiResult<Uuid> {
    let settings = db::settings::get(&mut *tx, user.id).await?;
    let branding: Branding = serde_json::from_value(settings.branding.0).unwrap_or_default();
    let unsubscribe = pref.map(|p| mailer.unsubscribe_url(user.id, p));
    let full = context! {
        name => user.name.as_deref().unwrap_or("there"),
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
            subject,
            body_text: &text,
            body_html: Some(&html),
            headers: &headers,
        },
    )
    .await?;
    Ok(id)
}

/// Writes the welcome e-mail for a new user into the outbox; returns its id.
pub async fn welcome(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
) -> ApiResult<Uuid> {
    let ctx = context! { email => &user.email, docs_url => state.settings.public_url("/docs") };
    compose(
        tx,
        &state.mail,
        user,
        "welcome",
        "Welcome to qrsaas",
        None,
        ctx,
    )
    .await
}

/// The password-reset link (one hour, single use).
pub async fn password_reset(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    url: &str,
) -> ApiResult<Uuid> {
    let ctx = context! { email => &user.email, url };
    let subject = "Reset your qrsaas password";
    compose(tx, &state.mail, user, "password_reset", subject, None, ctx).await
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
    let ctx = context! { address, url, hours, change };
    let subject = "Confirm your e-mail address";
    compose_to(
        tx,
        &state.mail,
        user,
        address,
        "verify_email",
        subject,
        None,
        ctx,
    )
    .await
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
    let ctx = context! { codes, url, expires };
    let subject = "Your QR code export is ready";
    compose(tx, &state.mail, user, "export_ready", subject, None, ctx).await
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
    let of = |n: i64, limit: Option<u64>| match limit {
        Some(l) => format!("{n} of {l}"),
        None => n.to_string(),
    };
    let l = &plan.limits;
    let scans = match s.scans_over_quota {
        0 => of(s.scans, l.scans_per_month),
        over => format!("{} ({over} over quota)", of(s.scans, l.scans_per_month)),
    };
    let rows = vec![
        ("Plan", plan.name.clone()),
        ("Scans", scans),
        (
            "QR codes created",
            of(i64::from(s.codes_created), l.codes_per_month),
        ),
        ("Exports", of(i64::from(s.exports), l.exports_per_month)),
        ("Credits spent", s.credits_spent.to_string()),
    ];
    let usage_url = state.settings.public_url("/api/v1/billing/statements");
    let ctx = context! { month => &month, rows, usage_url };
    let subject = format!("Your qrsaas usage statement for {month}");
    let pref = Some(Pref::MonthlyStatement);
    compose(
        tx,
        &state.mail,
        user,
        "usage_statement",
        &subject,
        pref,
        ctx,
    )
    .await
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
    let what = a.quota.replace('_', " ");
    let (headline, next) = if a.threshold >= 100 {
        (
            format!("You have reached your {what} quota"),
            if a.quota == "scans_per_month" {
                "Your codes keep working and every scan is still recorded; scans beyond the quota \
                 count as over quota."
            } else {
                "New ones are refused until the next period, unless you upgrade or hold credits."
            },
        )
    } else {
        (
            format!("You have used {}% of your {what} quota", a.threshold),
            "Nothing changes yet; upgrade or buy credits before you reach it.",
        )
    };
    let ctx = context! {
        headline => &headline, next, plan => a.plan, used => a.used, limit => a.limit,
        period_start => a.period_start.to_string(), period_end => a.period_end.to_string(),
        url => state.settings.public_url("/api/v1/billing/subscription"),
    };
    let pref = Some(Pref::UsageAlerts);
    compose(tx, &state.mail, user, "usage_alert", &headline, pref, ctx).await
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
    let ctx = context! { plan, until, hint };
    let subject = "Your payment did not go through";
    compose(tx, &state.mail, user, "payment_failed", subject, None, ctx).await
}

/// The grace period ended without payment: the account is on `fallback` now.
pub async fn plan_ended(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    plan: &str,
    fallback: &str,
) -> ApiResult<Uuid> {
    let ctx = context! { plan, fallback };
    compose(
        tx,
        &state.mail,
        user,
        "plan_ended",
        "Your plan has ended",
        None,
        ctx,
    )
    .await
}

/// Credits bought through Checkout were added.
pub async fn credits_added(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    credits: u32,
    balance: i64,
) -> ApiResult<Uuid> {
    let ctx = context! { credits, balance };
    let subject = "Credits added to your account";
    compose(tx, &state.mail, user, "credits_added", subject, None, ctx).await
}

/// A code reached a scan milestone.
pub async fn scan_milestone(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    m: &super::events::MilestoneData,
) -> ApiResult<Uuid> {
    let name = m.name.clone().unwrap_or_else(|| m.short_code.clone());
    let ctx = context! {
        code_name => &name, milestone => m.milestone,
        short_url => state.settings.public_url(&format!("/r/{}", m.short_code)),
        analytics_url => state.settings.public_url(&format!("/api/v1/qr-codes/{}/analytics", m.qr_id)),
    };
    let subject = format!("{name} reached {} scans", m.milestone);
    let pref = Some(Pref::ScanAlerts);
    compose(tx, &state.mail, user, "scan_milestone", &subject, pref, ctx).await
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
    let change = match (scans, previous) {
        (_, 0) if scans == 0 => "no change".to_owned(),
        (_, 0) => "up from none".to_owned(),
        (s, p) => {
            let pct = (s as f64 - p as f64) * 100.0 / p as f64;
            format!("{}{pct:.0}%", if pct >= 0.0 { "+" } else { "" })
        }
    };
    let week_end = week_start + chrono::Days::new(6);
    let ctx = context! {
        week_start => week_start.to_string(), week_end => week_end.to_string(), scans, previous,
        change => &change, top, analytics_url => state.settings.public_url("/api/v1/analytics"),
    };
    let subject = format!("Your week: {scans} scans ({change})");
    let pref = Some(Pref::WeeklySummary);
    compose(tx, &state.mail, user, "weekly_summary", &subject, pref, ctx).await
}

/// A job spent its retries.
pub async fn job_failed(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    job: &super::events::JobFailedData,
) -> ApiResult<Uuid> {
    let kind = job.kind.replace('_', " ");
    let ctx = context! {
        kind => &kind, job_id => job.job_id.to_string(), attempts => job.attempts,
        error => &job.error,
        job_url => state.settings.public_url(&format!("/api/v1/jobs/{}", job.job_id)),
    };
    let subject = format!("Your {kind} job failed");
    let pref = Some(Pref::JobFailures);
    compose(tx, &state.mail, user, "job_failed", &subject, pref, ctx).await
}

/// We turned a webhook endpoint off.
pub async fn webhook_disabled(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    url: &str,
    reason: &str,
) -> ApiResult<Uuid> {
    let why = match reason {
        "gone" => "it answered 410 Gone, which asks senders to stop".to_owned(),
        _ => "it has failed every delivery for days".to_owned(),
    };
    let ctx = context! { url, why };
    let subject = "Your webhook endpoint was turned off";
    compose(
        tx,
        &state.mail,
        user,
        "webhook_disabled",
        subject,
        None,
        ctx,
    )
    .await
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
            unsubscribe_url => &url, reason => Pref::ScanAlerts.reason(),
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
