//! The queue handlers that feed the [`Notifier`]: e-mails, webhook deliveries and text messages.

use actix::Addr;
use apalis::prelude::{BoxDynError, Data};
use qrsaas_jobs::{DeliverWebhook, SendEmail, SendSms};

use super::{Deliver, Hook, Notifier, Text};

pub async fn send_email(job: SendEmail, notifier: Data<Addr<Notifier>>) -> Result<(), BoxDynError> {
    match notifier.send(Deliver(job.email_id)).await {
        Ok(Ok(outcome)) => {
            tracing::debug!(email_id = %job.email_id, ?outcome, "e-mail job done");
            Ok(())
        }
        Ok(Err(e)) => Err(e.into()),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}

pub async fn deliver_webhook(
    job: DeliverWebhook,
    notifier: Data<Addr<Notifier>>,
) -> Result<(), BoxDynError> {
    match notifier.send(Hook(job)).await {
        Ok(r) => r.map_err(Into::into),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}

pub async fn send_sms(job: SendSms, notifier: Data<Addr<Notifier>>) -> Result<(), BoxDynError> {
    match notifier.send(Text(job.sms_id)).await {
        Ok(r) => r.map_err(Into::into),
        Err(mailbox) => Err(Box::new(mailbox)),
    }
}
