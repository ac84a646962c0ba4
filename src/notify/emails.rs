//! The e-mail outbox: messages are written to Postgres in the transaction of the change that
//! causes them, then a `SendEmail` job is enqueued after commit. A lost enqueue (Redis down at that
//! moment) is recovered by the `RequeueEmails` maintenance run, so no e-mail is lost.

use qrsaas_jobs::SendEmail;
use uuid::Uuid;

use crate::db::{self, emails::NewEmail, statements::StatementRow, users::UserRow};
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
    usage_url: &str,
) -> ApiResult<Uuid> {
    let month = s.month.format("%B %Y").to_string();
    let name = user.name.as_deref().unwrap_or("there");
    let text = format!(
        "Hi {name},\n\nYour qrsaas usage in {month} (UTC):\n\n\
         Scans: {scans}\nQR codes created: {codes}\nExports: {exports}\n\n\
         Details: {usage_url}\n\n— the qrsaas team\n",
        scans = s.scans,
        codes = s.codes_created,
        exports = s.exports,
    );
    let html = format!(
        "<p>Hi {name},</p><p>Your qrsaas usage in <b>{month}</b> (UTC):</p>\
         <table><tr><td>Scans</td><td>{scans}</td></tr>\
         <tr><td>QR codes created</td><td>{codes}</td></tr>\
         <tr><td>Exports</td><td>{exports}</td></tr></table>\
         <p><a href=\"{u}\">Details</a></p><p>— the qrsaas team</p>",
        name = html_escape(name),
        scans = s.scans,
        codes = s.codes_created,
        exports = s.exports,
        u = html_escape(usage_url),
    );
    let subject = format!("Your qrsaas usage statement for {month}");
    outbox(tx, user, "usage_statement", &subject, &text, &html).await
}
