//! The notifier actor: every channel behind the outboxes — e-mail (SMTP, or `.eml` files on a
//! machine without a relay), webhook deliveries, SMS — and the `scans.batch` windows it closes
//! every second (see `crate::actors` for the pattern).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message, ResponseFuture, Supervised};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use qrsaas_jobs::DeliverWebhook;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::actors::MAILBOX_CAPACITY;
use crate::config::{MailTransport, SmtpSettings, SmtpTls};
use crate::db;
use crate::state::AppState;

/// Attempts after which an e-mail is marked failed and no longer retried.
const GIVE_UP_AFTER: i32 = qrsaas_jobs::RetryPolicy::STANDARD.max_attempts as i32;
/// How often the `scans.batch` windows are looked at.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Where e-mail goes.
#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    async fn send(&self, m: lettre::Message) -> anyhow::Result<()> {
        match self {
            Transport::Smtp(t) => t
                .send(m)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("smtp: {e}")),
            Transport::File(t) => t
                .send(m)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("mail file: {e}")),
        }
    }
}

pub struct Notifier {
    app: AppState,
    from: Mailbox,
    transport: Transport,
    /// A flush of the scan windows is under way.
    flushing: Arc<AtomicBool>,
}

impl Notifier {
    /// Fails on settings that can never work (bad `from` address, bad relay host).
    pub fn new(app: AppState) -> anyhow::Result<Notifier> {
        let smtp = &app.settings.smtp;
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("smtp.from {:?}: {e}", smtp.from))?;
        let transport = transport(smtp)?;
        Ok(Notifier {
            app,
            from,
            transport,
            flushing: Arc::new(AtomicBool::new(false)),
        })
    }
}

fn transport(s: &SmtpSettings) -> anyhow::Result<Transport> {
    if s.transport == MailTransport::File {
        std::fs::create_dir_all(&s.file_dir)?;
        return Ok(Transport::File(AsyncFileTransport::new(&s.file_dir)));
    }
    let builder = match s.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
    };
    let mut builder = builder
        .port(s.port)
        .timeout(Some(Duration::from_secs(s.timeout_secs)));
    if let (Some(user), Some(pass)) = (&s.username, &s.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            pass.expose_secret().to_owned(),
        ));
    }
    Ok(Transport::Smtp(builder.build()))
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        ctx.run_interval(FLUSH_EVERY, |_, ctx| ctx.notify(FlushScans));
    }
}

impl Supervised for Notifier {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        match transport(&self.app.settings.smtp) {
            Ok(t) => self.transport = t,
            Err(e) => tracing::error!(error = %e, "notifier: rebuilding the mail transport failed"),
        }
        self.flushing.store(false, Ordering::SeqCst);
    }
}

/// Deliver one outbox e-mail. Idempotent: an e-mail already sent (or given up on) is skipped.
#[derive(Debug, Message)]
#[rtype(result = "Result<Outcome, anyhow::Error>")]
pub struct Deliver(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    AlreadyDone,
    Missing,
}

impl Handler<Deliver> for Notifier {
    type Result = ResponseFuture<Result<Outcome, anyhow::Error>>;

    fn handle(&mut self, Deliver(id): Deliver, _ctx: &mut Context<Self>) -> Self::Result {
        let db = self.app.db.clone();
        let transport = self.transport.clone();
        let from = self.from.clone();
        Box::pin(async move {
            let Some(email) = db::emails::get(&db, id).await? else {
                tracing::warn!(%id, "outbox e-mail not found; dropping job");
                return Ok(Outcome::Missing);
            };
            if email.status != "pending" {
                return Ok(Outcome::AlreadyDone);
            }
            let to: Mailbox = match email.to_address.parse() {
                Ok(to) => to,
                Err(e) => {
                    // A bad address never becomes good: record it and stop retrying.
                    db::emails::record_failure(&db, id, &format!("bad address: {e}"), 1).await?;
                    return Ok(Outcome::AlreadyDone);
                }
            };
            let body = match &email.body_html {
                Some(html) => {
                    MultiPart::alternative_plain_html(email.body_text.clone(), html.clone())
                }
                None => MultiPart::mixed()
                    .singlepart(lettre::message::SinglePart::plain(email.body_text.clone())),
            };
            let mut builder = lettre::Message::builder()
                .from(from)
                .to(to)
                .subject(email.subject.clone())
                .message_id(Some(format!("<{id}@qrsaas>")));
            for (name, value) in &email.headers.0 {
                let name = HeaderName::new_from_ascii(name.clone())
                    .map_err(|e| anyhow::anyhow!("header {name}: {e}"))?;
                builder = builder.raw_header(HeaderValue::new(name, value.clone()));
            }
            match transport.send(builder.multipart(body)?).await {
                Ok(()) => {
                    db::emails::mark_sent(&db, id).await?;
                    metrics::counter!("emails_sent_total", "kind" => email.kind).increment(1);
                    Ok(Outcome::Sent)
                }
                Err(e) => {
                    db::emails::record_failure(&db, id, &e.to_string(), GIVE_UP_AFTER).await?;
                    metrics::counter!("email_failures_total").increment(1);
                    Err(e)
                }
            }
        })
    }
}

/// Make one attempt of a webhook delivery.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), anyhow::Error>")]
pub struct Hook(pub DeliverWebhook);

impl Handler<Hook> for Notifier {
    type Result = ResponseFuture<Result<(), anyhow::Error>>;

    fn handle(&mut self, Hook(job): Hook, _ctx: &mut Context<Self>) -> Self::Result {
        let app = self.app.clone();
        // The attempt runs on the runtime's threads: an actor polls every future it holds on
        // its one thread whenever any of them wakes, which at dozens of deliveries in flight
        // costs more than the deliveries. The actor only waits for the outcome.
        let attempt = tokio::spawn(async move {
            let pending = super::webhooks::deliver(&app, &job).await?;
            pending.dispatch(&app).await;
            Ok::<(), anyhow::Error>(())
        });
        Box::pin(async move { attempt.await? })
    }
}

/// Send one outbox SMS.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), anyhow::Error>")]
pub struct Text(pub Uuid);

impl Handler<Text> for Notifier {
    type Result = ResponseFuture<Result<(), anyhow::Error>>;

    fn handle(&mut self, Text(id): Text, _ctx: &mut Context<Self>) -> Self::Result {
        let app = self.app.clone();
        Box::pin(async move { super::sms::send(&app, id).await })
    }
}

/// Close the `scans.batch` windows that are due; answers the events written.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, anyhow::Error>")]
pub struct FlushScans;

impl Handler<FlushScans> for Notifier {
    type Result = ResponseFuture<Result<usize, anyhow::Error>>;

    fn handle(&mut self, _: FlushScans, _ctx: &mut Context<Self>) -> Self::Result {
        let (app, flag) = (self.app.clone(), self.flushing.clone());
        Box::pin(async move {
            if flag.swap(true, Ordering::SeqCst) {
                return Ok(0);
            }
            let result = super::scans::flush(&app).await;
            flag.store(false, Ordering::SeqCst);
            match result {
                Ok((n, pending)) => {
                    pending.dispatch(&app).await;
                    Ok(n)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "scan windows not flushed; the next tick retries");
                    Err(e)
                }
            }
        })
    }
}

/// Re-enqueues what lost its job; used by the `RequeueNotifications` run.
pub async fn requeue(app: &AppState) -> anyhow::Result<usize> {
    let hooks = super::webhooks::requeue_stranded(app).await?;
    let texts = super::sms::requeue_stranded(app).await?;
    if hooks + texts > 0 {
        tracing::warn!(
            hooks,
            texts,
            "re-enqueued notifications whose enqueue was lost"
        );
    }
    Ok(hooks + texts)
}
