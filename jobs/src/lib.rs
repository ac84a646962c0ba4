//! The queue contract shared by every producer and consumer of qrsaas jobs.
//!
//! Payloads are a versioned wire format: they are stored in Redis and may be read by a worker built
//! from a different commit than the producer. Changes must be additive — new fields get
//! `#[serde(default)]`, nothing is renamed or removed — and the tests below pin the v1 encodings.
//! Scan blocks have gained denser encodings (packed blocks, addresses as bytes); workers read
//! every earlier one, so workers are upgraded before the processes that produce.
//!
//! Delivery is at-least-once, so every job names a business key: the enqueue helper uses it as the
//! queue's idempotency key (a duplicate enqueue inside the TTL is dropped) and handlers use it to
//! make their effect happen once.

use std::net::IpAddr;
use std::time::Duration;

use apalis_core::backend::TaskSink;
use apalis_core::backend::TaskSinkError;
use apalis_core::backend::codec::Codec;
use apalis_core::backend::finalize::Durable;
use apalis_core::task::builder::TaskBuilder;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

mod packed;

pub use packed::ScanBlock;

/// A job payload and the queue it travels on.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Queue name without the deployment namespace (see [`queue_name`]).
    const QUEUE: &'static str;
    /// Retry policy applied by workers of this queue.
    const RETRY: RetryPolicy = RetryPolicy::STANDARD;
    /// The business key that makes this job's effect idempotent.
    fn idempotency_key(&self) -> String;
}

/// Full Redis queue name: every deployment (and every test) lives under its own namespace.
pub fn queue_name<J: Job>(namespace: &str) -> String {
    named_queue(namespace, J::QUEUE)
}

/// [`queue_name`] of a queue known by name.
pub fn named_queue(namespace: &str, queue: &str) -> String {
    format!("{namespace}:queue:{queue}")
}

/// Every queue, once: the table that the service's vacuum and queue depths read, and that its
/// worker checks its consumers against at start-up (a queue added here without a consumer, or
/// consumed without being listed, stops the worker from starting).
pub const QUEUES: &[&str] = &[
    IngestScans::QUEUE,
    SendEmail::QUEUE,
    SyncQrMetadata::QUEUE,
    RollupDay::QUEUE,
    ExportCodes::QUEUE,
    ExportAccount::QUEUE,
    BulkCreate::QUEUE,
    Maintenance::QUEUE,
    DeliverWebhook::QUEUE,
    SendSms::QUEUE,
];

/// How a failing job is retried: exponential backoff with full jitter, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub const STANDARD: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(600),
    };
}

/// Deliver one e-mail from the Postgres outbox (`outbound_emails`). The content lives in the
/// outbox row, written in the same transaction as the change that caused it, so the job only
/// carries the row id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendEmail {
    pub email_id: Uuid,
}

impl Job for SendEmail {
    const QUEUE: &'static str = "email";
    fn idempotency_key(&self) -> String {
        format!("email:{}", self.email_id)
    }
}

/// Periodic housekeeping enqueued by the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    pub task: MaintenanceTask,
    /// The scheduled slot this run belongs to; with `task` it is the business key, so two
    /// schedulers firing for the same slot produce one run.
    pub slot: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceTask {
    /// Delete expired and revoked sessions.
    PurgeSessions,
    /// Re-enqueue outbox e-mails still pending after their job should have run (lost enqueue).
    RequeueEmails,
    /// Enqueue the daily rollups due: yesterday, the day before (late scans), and every day
    /// missed since the last rolled-up one (catch-up after downtime).
    Rollups,
    /// Drop raw scan partitions older than the retention window (the aggregates stay).
    Retention,
    /// Delete export files past their expiry.
    CleanExports,
    /// Write the monthly usage statements of the month before the slot's, and e-mail them.
    Statements,
    /// Delete finished jobs' payloads from the Redis queues.
    VacuumQueues,
    /// Report the hour's billable overage to Stripe's Billing Meters.
    ReportUsage,
    /// Billing's daily round: expire credits, tell owners whose grace period ended, prune
    /// folded usage records.
    BillingDaily,
    /// Re-enqueue webhook deliveries and SMS whose job was lost (due, not held, not queued).
    RequeueNotifications,
    /// Weekly summaries of the accounts whose Monday 08:00 (their time zone) falls in the slot's
    /// hour.
    WeeklySummaries,
    /// Apply the scheduled changes of codes that are due.
    ApplySchedules,
    /// Check again the custom domains not checked for a day; flag those that stopped verifying.
    RecheckDomains,
}

impl Job for Maintenance {
    const QUEUE: &'static str = "maintenance";
    fn idempotency_key(&self) -> String {
        format!("maintenance:{:?}:{}", self.task, self.slot.timestamp())
    }
}

/// One scan as the redirect saw it, before enrichment. Serialised into the `scans` queue.
///
/// Generic over its text so the redirect can pack a scan straight from the request, borrowing
/// every string (`ScanEvent<&str>`, see [`ScanBlock::push`]); consumers read `ScanEvent<String>`.
/// One definition keeps both sides' field order, which is the packed wire format, the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanEvent<S = String> {
    pub event_id: Uuid,
    pub qr_id: Uuid,
    pub owner_id: Uuid,
    #[serde(default)]
    pub project_id: Option<Uuid>,
    pub short_code: S,
    #[serde(with = "packed::micros")]
    pub at: DateTime<Utc>,
    /// The client's address (none when the connection had no peer address). Packed as its 4 or
    /// 16 bytes; text in the JSON form and in blocks of earlier versions.
    #[serde(with = "packed::ip")]
    pub ip: Option<IpAddr>,
    pub user_agent: S,
    pub referer: S,
    /// Country/city from a trusted proxy's geo headers, when present.
    #[serde(default)]
    pub country: Option<S>,
    #[serde(default)]
    pub city: Option<S>,
    /// The owner turned IP anonymisation off: store the address whole.
    #[serde(default)]
    pub keep_ip: bool,
    /// Which of the code's weighted targets the scan was sent to (1-based); 0 for one target.
    #[serde(default)]
    pub variant: u8,
}

/// A block of scans handed off by one redirect process; the batch id makes re-delivery a no-op.
/// The consumer's form of the job; the redirect process enqueues the same job as [`ShipScans`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestScans {
    pub batch_id: Uuid,
    /// Packed (see [`packed`]).
    #[serde(with = "packed")]
    pub events: Vec<ScanEvent>,
}

impl Job for IngestScans {
    const QUEUE: &'static str = "scans";
    /// Scans should flow again soon after an outage ends: short, capped backoff, many attempts.
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 30,
        base_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(5),
    };
    fn idempotency_key(&self) -> String {
        scans_key(self.batch_id)
    }
}

fn scans_key(batch_id: Uuid) -> String {
    format!("scans:{batch_id}")
}

/// The producer's form of [`IngestScans`]: the same job on the same queue, byte for byte on the
/// wire (tested), with the scans already packed — each was encoded as it was served, so the
/// redirect process never builds an owned [`ScanEvent`] (four strings a scan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipScans {
    pub batch_id: Uuid,
    pub events: ScanBlock,
}

impl Job for ShipScans {
    const QUEUE: &'static str = IngestScans::QUEUE;
    const RETRY: RetryPolicy = IngestScans::RETRY;
    fn idempotency_key(&self) -> String {
        scans_key(self.batch_id)
    }
}

/// Copy a code's metadata (name, type, project, owner, status) to ClickHouse's `qr_codes`, so
/// analytics can group by project and type. Keyed by the version it carries: the worker always
/// writes the current row, and ClickHouse keeps the newest `updated_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncQrMetadata {
    pub qr_id: Uuid,
    pub version: DateTime<Utc>,
}

impl Job for SyncQrMetadata {
    const QUEUE: &'static str = "qr-metadata";
    fn idempotency_key(&self) -> String {
        format!("qrsync:{}:{}", self.qr_id, self.version.timestamp_micros())
    }
}

/// One attempt at delivering a webhook event to one endpoint. The delivery's state lives in
/// Postgres (`webhook_deliveries`); the job names which attempt of which run it is, so a late
/// or repeated job finds the delivery moved on and does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: Uuid,
    /// Bumped by a replay.
    pub run: i32,
    /// 1 for the first attempt.
    pub attempt: i32,
}

impl Job for DeliverWebhook {
    const QUEUE: &'static str = "webhooks";
    /// Failed attempts are scheduled by the handler (the retry schedule, `Retry-After`); the
    /// queue's own retries cover the handler not running (its database gone) and a killed
    /// worker's hold on the delivery, which lasts the attempt timeout plus 10 s.
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(30),
    };
    fn idempotency_key(&self) -> String {
        format!("webhook:{}:{}:{}", self.delivery_id, self.run, self.attempt)
    }
}

/// Send one SMS from the outbox (`outbound_sms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendSms {
    pub sms_id: Uuid,
}

impl Job for SendSms {
    const QUEUE: &'static str = "sms";
    fn idempotency_key(&self) -> String {
        format!("sms:{}", self.sms_id)
    }
}

/// Push `job` with its idempotency key and retry budget.
pub async fn enqueue<J, S, C>(sink: &mut S, job: J) -> Result<(), TaskSinkError<S::Error>>
where
    J: Job,
    S: TaskSink<J, Durable> + apalis_core::backend::WireFormatBackend<Codec = C>,
    C: Codec<J>,
{
    let key = job.idempotency_key();
    let task = TaskBuilder::new(job)
        .idempotency_key(key)
        .max_attempts(J::RETRY.max_attempts as usize)
        .build();
    sink.push_task(task).await
}

/// `enqueue`, to run no earlier than `delay` from now.
pub async fn enqueue_after<J, S, C>(
    sink: &mut S,
    job: J,
    delay: Duration,
) -> Result<(), TaskSinkError<S::Error>>
where
    J: Job,
    S: TaskSink<J, Durable> + apalis_core::backend::WireFormatBackend<Codec = C>,
    C: Codec<J>,
{
    let key = job.idempotency_key();
    // apalis schedules in whole seconds: round up, so the job never runs before `delay`.
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + delay;
    let task = TaskBuilder::new(job)
        .idempotency_key(key)
        .max_attempts(J::RETRY.max_attempts as usize)
        .run_at_timestamp(at.as_secs() + u64::from(at.subsec_nanos() > 0))
        .build();
    sink.push_task(task).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v1 wire format: a worker must still read what an older producer wrote.
    #[test]
    fn v1_payloads_still_decode() {
        let e: SendEmail =
            serde_json::from_str(r#"{"email_id":"0190a8f4-0000-7000-8000-000000000001"}"#).unwrap();
        assert_eq!(
            e.idempotency_key(),
            "email:0190a8f4-0000-7000-8000-000000000001"
        );
        let m: Maintenance =
            serde_json::from_str(r#"{"task":"purge_sessions","slot":"2026-11-21T00:00:00Z"}"#)
                .unwrap();
        assert_eq!(m.task, MaintenanceTask::PurgeSessions);
        assert_eq!(queue_name::<SendEmail>("prod"), "prod:queue:email");
    }

    /// Scan `n` of a block: codes repeat (every 7th scan), code 3 changes its IP setting half-way
    /// through, and every optional field is both present and absent somewhere.
    fn scan(n: u128) -> ScanEvent {
        let code = n % 7;
        ScanEvent {
            event_id: Uuid::from_u128(n),
            qr_id: Uuid::from_u128(100 + code),
            owner_id: Uuid::from_u128(200 + code % 2),
            project_id: code.is_multiple_of(2).then(|| Uuid::from_u128(300 + code)),
            short_code: format!("c{code}"),
            at: DateTime::from_timestamp_micros(1_763_800_000_123_456 + n as i64).unwrap(),
            ip: match n % 5 {
                0 => "2001:db8::7".parse().ok(),
                1 => None,
                _ => "203.0.113.7".parse().ok(),
            },
            user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) ✓".into(),
            referer: String::new(),
            country: n.is_multiple_of(3).then(|| "DE".into()),
            city: n.is_multiple_of(4).then(|| "Zürich".into()),
            keep_ip: code == 3 && n > 25,
            variant: 0,
        }
    }

    /// Blocks of scans are packed, and come back exactly (to the microsecond).
    #[test]
    fn scan_blocks_round_trip_packed() {
        let block = IngestScans {
            batch_id: Uuid::from_u128(7),
            events: (0..50).map(scan).collect(),
        };
        let json = serde_json::to_value(&block).unwrap();
        assert!(
            json["events"].is_string(),
            "packed, not an array: {json:.80}"
        );
        let back: IngestScans = serde_json::from_value(json).unwrap();
        assert_eq!(back, block);
    }

    fn borrowed(e: &ScanEvent) -> ScanEvent<&str> {
        ScanEvent {
            event_id: e.event_id,
            qr_id: e.qr_id,
            owner_id: e.owner_id,
            project_id: e.project_id,
            short_code: &e.short_code,
            at: e.at,
            ip: e.ip,
            user_agent: &e.user_agent,
            referer: &e.referer,
            country: e.country.as_deref(),
            city: e.city.as_deref(),
            keep_ip: e.keep_ip,
            variant: 0,
        }
    }

    /// What the redirect process enqueues (scans pushed one by one into a block, every string
    /// borrowed) is, on the wire, the job the workers read.
    #[test]
    fn shipped_blocks_are_ingest_jobs() {
        let events: Vec<ScanEvent> = (0..50).map(scan).collect();
        let mut block = ScanBlock::default();
        for e in &events {
            block.push(&borrowed(e));
        }
        assert_eq!((block.len(), block.decode().unwrap()), (50, events.clone()));
        let shipped = ShipScans {
            batch_id: Uuid::from_u128(7),
            events: block,
        };
        let read: IngestScans =
            serde_json::from_str(&serde_json::to_string(&shipped).unwrap()).unwrap();
        let expected = IngestScans {
            batch_id: Uuid::from_u128(7),
            events,
        };
        assert_eq!(read, expected);
        assert_eq!(shipped.idempotency_key(), expected.idempotency_key());
        assert_eq!(queue_name::<ShipScans>("p"), queue_name::<IngestScans>("p"));
    }

    /// A block queued by a version before packing (a JSON array, RFC 3339 times) still decodes.
    #[test]
    fn v1_scan_blocks_still_decode() {
        let v1 = r#"{"batch_id":"00000000-0000-0000-0000-000000000007","events":[{
            "event_id":"0190a8f4-0000-7000-8000-000000000001","qr_id":"0190a8f4-0000-7000-8000-000000000002",
            "owner_id":"0190a8f4-0000-7000-8000-000000000003","short_code":"abc",
            "at":"2026-11-22T08:00:00.123456Z","ip":"203.0.113.7","user_agent":"UA","referer":""}]}"#;
        let block: IngestScans = serde_json::from_str(v1).unwrap();
        let e = &block.events[0];
        assert_eq!(e.at.to_rfc3339(), "2026-11-22T08:00:00.123456+00:00");
        assert_eq!(
            (e.project_id, e.keep_ip, e.country.as_deref()),
            (None, false, None)
        );
        assert_eq!(e.short_code, "abc");
        assert_eq!(e.ip, Some([203, 0, 113, 7].into()));
    }

    /// Addresses in blocks packed before they were bytes (text; "" without a peer) still read.
    #[test]
    fn packed_text_addresses_still_decode() {
        #[derive(Deserialize)]
        struct Ip(#[serde(with = "packed::ip")] Option<IpAddr>);
        let read = |text: &str| rmp_serde::from_slice::<Ip>(&rmp_serde::to_vec(text).unwrap());
        assert_eq!(
            read("203.0.113.7").unwrap().0,
            Some([203, 0, 113, 7].into())
        );
        assert_eq!(read("2001:db8::7").unwrap().0, "2001:db8::7".parse().ok());
        assert_eq!(read("").unwrap().0, None);
    }
}

/// Roll one UTC day of raw scans up into the daily aggregates. The handler rebuilds the whole
/// day, so running it again (a retry, a catch-up, a second scheduler) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupDay {
    pub date: chrono::NaiveDate,
    /// The scheduled slot that asked for it: the same day may be re-rolled by a later slot
    /// (late scans), but one slot asks once.
    pub slot: DateTime<Utc>,
}

impl Job for RollupDay {
    const QUEUE: &'static str = "rollups";
    fn idempotency_key(&self) -> String {
        format!("rollup:{}:{}", self.date, self.slot.timestamp())
    }
}

/// Build the ZIP of a bulk export. The job's state, parameters and attempts live in Postgres
/// (`jobs`), keyed by this id: a redelivered or retried job rebuilds the same file, and a
/// finished one is a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCodes {
    pub job_id: Uuid,
    /// Which run of the job (an admin's retry starts a new one, which must not be taken for a
    /// duplicate of the first).
    #[serde(default)]
    pub run: i32,
}

impl Job for ExportCodes {
    const QUEUE: &'static str = "exports";
    fn idempotency_key(&self) -> String {
        format!("export:{}:{}", self.job_id, self.run)
    }
}

/// Build the ZIP of everything an account holds (its owner's "download my data"). Like
/// [`ExportCodes`], the job's state lives in Postgres (`jobs`, kind `account_export`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportAccount {
    pub job_id: Uuid,
    #[serde(default)]
    pub run: i32,
}

impl Job for ExportAccount {
    const QUEUE: &'static str = "account_exports";
    fn idempotency_key(&self) -> String {
        format!("account_export:{}:{}", self.job_id, self.run)
    }
}

/// Create the rows of a bulk create (stored with the job in Postgres). Each row's code gets an
/// id derived from the job and row number, so a re-run finds the codes it already made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkCreate {
    pub job_id: Uuid,
    #[serde(default)]
    pub run: i32,
}

impl Job for BulkCreate {
    const QUEUE: &'static str = "bulk-create";
    fn idempotency_key(&self) -> String {
        format!("bulk:{}:{}", self.job_id, self.run)
    }
}
