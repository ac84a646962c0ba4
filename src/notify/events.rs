//! Webhook event types and their payloads (each documented in the OpenAPI document), and the
//! outbox: an event is written in the transaction of the change that caused it, with one
//! delivery per subscribed endpoint, so a crash can neither lose one nor send one that never
//! happened. What a transaction wrote is dispatched (queued) once it has committed.

use chrono::{DateTime, NaiveDate, Utc};
use qrsaas_jobs::{DeliverWebhook, SendEmail, SendSms};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db;
use crate::state::AppState;

/// Every event a webhook endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "qr_code.created")]
    QrCodeCreated,
    #[serde(rename = "qr_code.updated")]
    QrCodeUpdated,
    #[serde(rename = "qr_code.deleted")]
    QrCodeDeleted,
    #[serde(rename = "qr_code.blocked")]
    QrCodeBlocked,
    #[serde(rename = "scans.batch")]
    ScansBatch,
    #[serde(rename = "scan.milestone")]
    ScanMilestone,
    #[serde(rename = "export.completed")]
    ExportCompleted,
    #[serde(rename = "bulk.completed")]
    BulkCompleted,
    #[serde(rename = "job.failed")]
    JobFailed,
    #[serde(rename = "usage.threshold")]
    UsageThreshold,
    #[serde(rename = "subscription.updated")]
    SubscriptionUpdated,
    /// Sent by `POST /api/v1/webhooks/{id}/test` whatever the endpoint subscribes to.
    #[serde(rename = "ping")]
    Ping,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::QrCodeCreated,
        EventType::QrCodeUpdated,
        EventType::QrCodeDeleted,
        EventType::QrCodeBlocked,
        EventType::ScansBatch,
        EventType::ScanMilestone,
        EventType::ExportCompleted,
        EventType::BulkCompleted,
        EventType::JobFailed,
        EventType::UsageThreshold,
        EventType::SubscriptionUpdated,
        EventType::Ping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::QrCodeCreated => "qr_code.created",
            EventType::QrCodeUpdated => "qr_code.updated",
            EventType::QrCodeDeleted => "qr_code.deleted",
            EventType::QrCodeBlocked => "qr_code.blocked",
            EventType::ScansBatch => "scans.batch",
            EventType::ScanMilestone => "scan.milestone",
            EventType::ExportCompleted => "export.completed",
            EventType::BulkCompleted => "bulk.completed",
            EventType::JobFailed => "job.failed",
            EventType::UsageThreshold => "usage.threshold",
            EventType::SubscriptionUpdated => "subscription.updated",
            EventType::Ping => "ping",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// `qr_code.*`: the code as it is after the change (before it, for `deleted`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QrCodeData {
    pub id: Uuid,
    pub name: Option<String>,
    pub qr_type: String,
    pub dynamic: bool,
    pub short_code: String,
    pub short_url: String,
    pub target_url: Option<String>,
    /// `active`, `paused`, `blocked` or `deleted`.
    pub status: String,
    pub project_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

/// One scan in `scans.batch`, enriched.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScanData {
    pub id: Uuid,
    pub qr_id: Uuid,
    pub project_id: Option<Uuid>,
    pub short_code: String,
    pub at: DateTime<Utc>,
    pub country: String,
    pub city: String,
    /// `mobile`, `desktop`, `tablet`, `bot`, `other`, `unknown`.
    pub device: String,
    pub os: String,
    pub browser: String,
    pub referer: String,
    pub bot: bool,
}

/// `scans.batch`: the scans of a window of at most 10 s — at most 1,000 of them, and no more
/// than keep the body under 20 KB (a busy window is split into several events).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScansBatchData {
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub count: usize,
    pub scans: Vec<ScanData>,
}

/// `scan.milestone`: a code reached 100, 1,000, 10,000 … scans.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MilestoneData {
    pub qr_id: Uuid,
    pub name: Option<String>,
    pub short_code: String,
    pub milestone: i64,
    pub scans_total: i64,
}

/// `export.completed`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportCompletedData {
    pub job_id: Uuid,
    pub codes: i64,
    pub download_url: String,
    pub expires_at: DateTime<Utc>,
}

/// `bulk.completed`: rows created and refused (each refused row's errors are in the job).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkCompletedData {
    pub job_id: Uuid,
    pub created: i64,
    pub failed: i64,
    pub job_url: String,
}

/// `job.failed`: an export or bulk create that spent its retries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobFailedData {
    pub job_id: Uuid,
    pub kind: String,
    pub error: String,
    pub attempts: i32,
}

/// `usage.threshold`: 80 % or 100 % of a monthly quota reached (once per period).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageThresholdData {
    pub quota: String,
    pub threshold: i32,
    pub used: i64,
    pub limit: u64,
    pub plan: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

/// `subscription.updated`: the subscription as Stripe now describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionUpdatedData {
    pub plan: String,
    pub status: String,
    pub interval: Option<String>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
}

/// `ping`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PingData {
    pub endpoint_id: Uuid,
    pub message: String,
}

/// What a committed transaction wrote to the outboxes, to be queued now. A lost enqueue is
/// picked up by the scheduled sweeps (`RequeueEmails`, `RequeueNotifications`).
#[derive(Debug, Default)]
#[must_use = "dispatch it once the transaction has committed"]
pub struct Pending {
    pub emails: Vec<Uuid>,
    pub deliveries: Vec<Uuid>,
    pub sms: Vec<Uuid>,
}

impl Pending {
    pub fn email(id: Uuid) -> Pending {
        Pending {
            emails: vec![id],
            ..Pending::default()
        }
    }

    pub fn merge(&mut self, other: Pending) {
        self.emails.extend(other.emails);
        self.deliveries.extend(other.deliveries);
        self.sms.extend(other.sms);
    }

    pub fn is_empty(&self) -> bool {
        self.emails.is_empty() && self.deliveries.is_empty() && self.sms.is_empty()
    }

    /// Queues everything; never fails the caller (its change has committed).
    pub async fn dispatch(self, state: &AppState) {
        for email_id in self.emails {
            enqueue(state, SendEmail { email_id }).await;
        }
        for delivery_id in self.deliveries {
            let job = DeliverWebhook {
                delivery_id,
                run: 0,
                attempt: 1,
            };
            enqueue(state, job).await;
        }
        for sms_id in self.sms {
            enqueue(state, SendSms { sms_id }).await;
        }
    }
}

async fn enqueue<J: qrsaas_jobs::Job + std::fmt::Debug>(state: &AppState, job: J) {
    if let Err(e) = state.queues.enqueue(job).await {
        metrics::counter!("enqueue_failures_total", "queue" => J::QUEUE).increment(1);
        tracing::warn!(queue = J::QUEUE, error = %e, "could not enqueue; the outbox sweep will");
    }
}

/// Writes `kind` with `data` for every enabled endpoint of `user` subscribed to it (nothing
/// when none is), inside the caller's transaction.
pub async fn emit<T: Serialize>(
    conn: &mut PgConnection,
    user: Uuid,
    kind: EventType,
    data: &T,
) -> Result<Pending, sqlx::Error> {
    let endpoints = db::webhooks::subscribed(conn, user, kind.as_str()).await?;
    if endpoints.is_empty() {
        return Ok(Pending::default());
    }
    let data = serde_json::to_value(data).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let deliveries =
        db::webhooks::insert_event(conn, Uuid::now_v7(), user, kind.as_str(), &data, &endpoints)
            .await?;
    Ok(Pending {
        deliveries,
        ..Pending::default()
    })
}
