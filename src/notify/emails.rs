//! The e-mail outbox: messages are written to Postgres in the transaction of the change that
//! causes them, then a `SendEmail` job is enqueued after commit. A lost enqueue (Redis down at that
//! moment) is recovered by the `RequeueEmails` maintenance run, so no e-mail is lost.

use qrsaas_jobs::SendEmail;
use uuid::Uuid;

use crate::db::{self, emails::NewEmail, statements::StatementRow, users::UserRow};
use crate::domain::plan::Plan;
use crate::error::ApiResult;
use crate::state::AppState;

/// Writes the welcome e-mail for a new user into the outbox; returns its id.
pub async fn welcome(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
) -> ApiResult<Uuid> {
    let name = user.name.as_deref().unwrap_or("there");
    let docs = state.settings.public_url("/docs");
    let text = format!(
        "Hi {name},\n\nWelcome to qrsaas! Your account {email} is ready.\n\n\
         Create your first QR code from the dashboard, or through the API (reference: {docs}).\n\n\
         — the qrsaas team\n",
        email = user.email,
    );
    let html = format!(
        "<p>Hi {name},</p><p>Welcome to qrsaas! Your account <b>{email}</b> is ready.</p>\
         <p>Create your first QR code from the dashboard, or through the \
         <a href=\"{docs}\">API</a>.</p><p>— the qrsaas team</p>",
        name = html_escape(name),
        email = html_escape(&user.email),
    );
    outbox(tx, user, "welcome", "Welcome to qrsaas", &text, &html).await
}

/// Writes one e-mail to `user` into the outbox; returns its id.
async fn outbox(
    tx: &mut sqlx::PgConnection,
    user: &UserRow,
    kind: &str,
    subject: &str,
    text: &str,
    html: &str,
) -> ApiResult<Uuid> {
    let id = Uuid::now_v7();
    db::emails::insert(
        tx,
        &NewEmail {
            id,
            user_id: Some(user.id),
            kind,
            to_address: &user.email,
            subject,
            body_text: text,
            body_html: Some(html),
        },
    )
    .await?;
    Ok(id)
}

/// Writes the "your export is ready" e-mail into the outbox; returns its id. Called in the
/// transaction that marks the export succeeded, which happens once per job.
pub async fn export_ready(
    tx: &mut sqlx::PgConnection,
    user: &UserRow,
    codes: i32,
    url: &str,
    expires: &str,
) -> ApiResult<Uuid> {
    let text = format!(
        "Your export of {codes} QR codes is ready: {url}\n\nThe file is kept until {expires}.\n\n— the qrsaas team\n"
    );
    let html = format!(
        "<p>Your export of {codes} QR codes is ready: <a href=\"{u}\">download the ZIP</a>.</p>\
         <p>The file is kept until {e}.</p><p>— the qrsaas team</p>",
        u = html_escape(url),
        e = html_escape(expires),
    );
    outbox(
        tx,
        user,
        "export_ready",
        "Your QR code export is ready",
        &text,
        &html,
    )
    .await
}

/// Enqueues delivery of an outbox e-mail. Never fails the caller: the change is committed and the
/// outbox sweep retries a lost enqueue.
pub async fn dispatch(state: &AppState, email_id: Uuid) {
    if let Err(e) = state.queues.enqueue(SendEmail { email_id }).await {
        metrics::counter!("enqueue_failures_total", "queue" => "email").increment(1);
        tracing::warn!(%email_id, error = %e, "could not enqueue e-mail; the outbox sweep will retry");
    }
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Writes a monthly usage statement e-mail into the outbox; returns its id. Called in the
/// transaction that writes the statement row, which happens once per user and month.
pub async fn statement(
    tx: &mut sqlx::PgConnection,
    user: &UserRow,
    s: &StatementRow,
    plan: &Plan,
    usage_url: &str,
) -> ApiResult<Uuid> {
    let month = s.month.format("%B %Y").to_string();
    let name = user.name.as_deref().unwrap_or("there");
    let of = |n: i64, limit: Option<u64>| match limit {
        Some(l) => format!("{n} of {l}"),
        None => n.to_string(),
    };
    let l = &plan.limits;
    let scans = match s.scans_over_quota {
        0 => of(s.scans, l.scans_per_month),
        over => format!("{} ({over} over quota)", of(s.scans, l.scans_per_month)),
    };
    let codes = of(i64::from(s.codes_created), l.codes_per_month);
    let exports = of(i64::from(s.exports), l.exports_per_month);
    let rows = [
        ("Plan", plan.name.clone()),
        ("Scans", scans),
        ("QR codes created", codes),
        ("Exports", exports),
        ("Credits spent", s.credits_spent.to_string()),
    ];
    let text_rows: String = rows.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    let html_rows: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><td>{k}</td><td>{}</td></tr>", html_escape(v)))
        .collect();
    let text = format!(
        "Hi {name},\n\nYour qrsaas usage in {month} (UTC):\n\n{text_rows}\n\
         Details: {usage_url}\n\n— the qrsaas team\n"
    );
    let html = format!(
        "<p>Hi {name},</p><p>Your qrsaas usage in <b>{month}</b> (UTC):</p>\
         <table>{html_rows}</table>\
         <p><a href=\"{u}\">Details</a></p><p>— the qrsaas team</p>",
        name = html_escape(name),
        u = html_escape(usage_url),
    );
    let subject = format!("Your qrsaas usage statement for {month}");
    outbox(tx, user, "usage_statement", &subject, &text, &html).await
}

/// "You have used 80 % / 100 % of a quota": once per account, period, quota and threshold.
pub async fn usage_alert(
    tx: &mut sqlx::PgConnection,
    user: &UserRow,
    a: &UsageAlert<'_>,
) -> ApiResult<Uuid> {
    let name = user.name.as_deref().unwrap_or("there");
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
    let text = format!(
        "Hi {name},\n\n{headline} on the {plan} plan: {used} of {limit} (period {start} to {end}).\n\n\
         {next}\n\nPlans and usage: {url}\n\n— the qrsaas team\n",
        plan = a.plan,
        used = a.used,
        limit = a.limit,
        start = a.period_start,
        end = a.period_end,
        url = a.url,
    );
    let html = format!(
        "<p>Hi {name},</p><p><b>{headline}</b> on the {plan} plan: {used} of {limit} \
         (period {start} to {end}).</p><p>{next}</p><p><a href=\"{url}\">Plans and usage</a></p>\
         <p>— the qrsaas team</p>",
        name = html_escape(name),
        headline = html_escape(&headline),
        plan = html_escape(a.plan),
        used = a.used,
        limit = a.limit,
        start = a.period_start,
        end = a.period_end,
        url = html_escape(a.url),
    );
    outbox(tx, user, "usage_alert", &headline, &text, &html).await
}

/// What a usage alert says.
pub struct UsageAlert<'a> {
    pub quota: &'a str,
    pub threshold: i32,
    pub used: i64,
    pub limit: u64,
    pub plan: &'a str,
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
    pub url: &'a str,
}

/// A subscription payment failed: the plan is kept until `grace_ends`.
pub async fn payment_failed(
    tx: &mut sqlx::PgConnection,
    user: &UserRow,
    plan: &str,
    grace_ends: chrono::DateTime<chrono::Utc>,
    portal_hint: &str,
) -> ApiResult<Uuid> {
    let name = user.name.as_deref().unwrap_or("there");
    let until = grace_ends.format("%Y-%m-%d %H:%M UTC");
    let text = format!(
        "Hi {name},\n\nThe payment for your {plan} plan did not go through. Your plan stays \
         as it is until {until}; update your payment method before then ({portal_hint}).\n\n\
         — the qrsaas team\n"
    );
    let html = format!(
        "<p>Hi {name},</p><p>The payment for your {plan} plan did not go through. Your plan \
         stays as it is until <b>{until}</b>; update your payment method before then \
         ({hint}).</p><p>— the qrsaas team</p>",
        name = html_escape(name),
        plan = html_escape(plan),
        hint = html_escape(portal_hint),
    );
    outbox(
        tx,
        user,
        "payment_failed",
        "Your payment did not go through",
        &text,
        &html,
    )
    .await
}

/// The grace period ended without payment: the account is on `fallback` now.
pub async fn plan_ended(
    tx: &mut sqlx::PgConnection,
    user: &UserRow,
    plan: &str,
    fallback: &str,
) -> ApiResult<Uuid> {
    let name = user.name.as_deref().unwrap_or("there");
    let text = format!(
        "Hi {name},\n\nYour {plan} plan has ended because its payment is still outstanding; your \
         account is on the {fallback} plan now. Nothing was deleted: every code keeps working, \
         and new ones follow the {fallback} plan's limits.\n\n— the qrsaas team\n"
    );
    let html = format!(
        "<p>Hi {name},</p><p>Your {plan} plan has ended because its payment is still \
         outstanding; your account is on the <b>{fallback}</b> plan now. Nothing was deleted: \
         every code keeps working, and new ones follow the {fallback} plan's limits.</p>\
         <p>— the qrsaas team</p>",
        name = html_escape(name),
        plan = html_escape(plan),
        fallback = html_escape(fallback),
    );
    outbox(tx, user, "plan_ended", "Your plan has ended", &text, &html).await
}

/// Credits bought through Checkout were added.
pub async fn credits_added(
    tx: &mut sqlx::PgConnection,
    user: &UserRow,
    credits: u32,
    balance: i64,
) -> ApiResult<Uuid> {
    let text = format!(
        "Thank you: {credits} credits were added to your account. Your balance is {balance}.\n\n\
         — the qrsaas team\n"
    );
    let html = format!(
        "<p>Thank you: <b>{credits}</b> credits were added to your account. Your balance is \
         {balance}.</p><p>— the qrsaas team</p>"
    );
    outbox(
        tx,
        user,
        "credits_added",
        "Credits added to your account",
        &text,
        &html,
    )
    .await
}
