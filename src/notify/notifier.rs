//! The notifier actor: delivers outbox e-mails through SMTP (see `crate::actors` for the pattern).

use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use uuid::Uuid;

use crate::actors::MAILBOX_CAPACITY;
use crate::config::{SmtpSettings, SmtpTls};
use crate::db;

/// Attempts after which an e-mail is marked failed and no longer retried.
const GIVE_UP_AFTER: i32 = qrsaas_jobs::RetryPolicy::STANDARD.max_attempts as i32;

pub struct Notifier {
    smtp: SmtpSettings,
    from: Mailbox,
    db: PgPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Notifier {
    /// Fails on settings that can never work (bad `from` address, bad relay host).
    pub fn new(smtp: SmtpSettings, db: PgPool) -> anyhow::Result<Notifier> {
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("smtp.from {:?}: {e}", smtp.from))?;
        let transport = transport(&smtp)?;
        Ok(Notifier {
            smtp,
            from,
            db,
            transport,
        })
    }
}

fn transport(s: &SmtpSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
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
    Ok(builder.build())
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Supervised for Notifier {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        match transport(&self.smtp) {
            Ok(t) => self.transport = t,
            Err(e) => tracing::error!(error = %e, "notifier: rebuilding SMTP transport failed"),
        }
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
        let db = self.db.clone();
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
            let message = lettre::Message::builder()
                .from(from)
                .to(to)
                .subject(email.subject.clone())
                .message_id(Some(format!("<{id}@qrsaas>")))
                .multipart(body)?;
            match transport.send(message).await {
                Ok(_) => {
                    db::emails::mark_sent(&db, id).await?;
                    metrics::counter!("emails_sent_total", "kind" => email.kind).increment(1);
                    Ok(Outcome::Sent)
                }
                Err(e) => {
                    db::emails::record_failure(&db, id, &e.to_string(), GIVE_UP_AFTER).await?;
                    metrics::counter!("email_failures_total").increment(1);
                    Err(anyhow::anyhow!("smtp: {e}"))
                }
            }
        })
    }
}
