//! Scans as notifications: the `scans.batch` webhook windows and the live scan stream.
//!
//! `scans.batch`: ingestion buffers the scans of owners with a subscribed endpoint, in the
//! transaction that records the batch; every second the notifier closes the windows that are
//! due — the oldest scan has waited 10 s, or 1,000 are waiting — writing events of at most
//! 1,000 scans whose bodies stay under 20 KB, and deleting the scans they carry in the same
//! transaction (so each scan is delivered in exactly one event).
//!
//! The live stream: after a batch commits, its scans are appended to the owner's Redis stream
//! (kept for a minute) and announced on one pub/sub channel; every API replica listens and wakes
//! its open `GET /api/v1/scans/stream` connections, which read the stream from where they are
//! (`Last-Event-ID` resumes a reconnect without gaps). Best effort: a Redis outage loses the
//! live view, never a scan.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use redis::aio::ConnectionManager;
use sqlx::PgConnection;
use uuid::Uuid;

use super::events::{EventType, Pending, ScanData, ScansBatchData, emit};
use crate::db;
use crate::state::AppState;

/// The longest a scan waits for its `scans.batch` event.
const WINDOW: chrono::Duration = chrono::Duration::seconds(10);
/// Most scans in one event.
const MAX_SCANS: i64 = 1000;
/// Budget for the scans of one event's body (the envelope takes the rest of 20 KB).
const MAX_SCAN_BYTES: usize = 19 * 1024;
/// How long the live stream keeps scans for a reconnect.
pub const STREAM_KEEP: Duration = Duration::from_secs(60);

/// Of a batch's owners, those whose scans are wanted as notifications: subscribed to
/// `scans.batch`, or watching the live stream.
#[derive(Debug, Default)]
pub struct Wanted {
    pub batch: Vec<Uuid>,
    pub live: Vec<Uuid>,
}

impl Wanted {
    pub fn any(&self, owner: Uuid) -> bool {
        self.batch.contains(&owner) || self.live.contains(&owner)
    }
}

/// Which of `owners` want their scans (a Redis outage hides the watchers: the live view is
/// best effort).
pub async fn wanted(
    tx: &mut PgConnection,
    redis: &ConnectionManager,
    namespace: &str,
    owners: &[Uuid],
) -> Result<Wanted, sqlx::Error> {
    let mut owners = owners.to_vec();
    owners.sort_unstable();
    owners.dedup();
    let batch = db::webhooks::subscribers(tx, &owners, EventType::ScansBatch.as_str()).await?;
    let keys: Vec<String> = owners.iter().map(|o| watch_key(namespace, *o)).collect();
    let mut conn = redis.clone();
    let watched: Vec<Option<String>> = if keys.is_empty() {
        Vec::new()
    } else {
        redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap_or_default()
    };
    let live = owners
        .iter()
        .zip(watched)
        .filter_map(|(o, w)| w.map(|_| *o))
        .collect();
    Ok(Wanted { batch, live })
}

/// Buffers the scans of owners subscribed to `scans.batch`, in the batch's transaction.
pub async fn buffer(
    tx: &mut PgConnection,
    wanted: &Wanted,
    scans: &[(Uuid, ScanData)],
) -> Result<(), sqlx::Error> {
    if wanted.batch.is_empty() {
        return Ok(());
    }
    let (users, rows): (Vec<Uuid>, Vec<serde_json::Value>) = scans
        .iter()
        .filter(|(o, _)| wanted.batch.contains(o))
        .filter_map(|(o, s)| serde_json::to_value(s).ok().map(|v| (*o, v)))
        .unzip();
    db::webhooks::buffer_scans(tx, &users, &rows).await
}

/// Splits scans (oldest first) into events: at most `MAX_SCANS` each, bodies under 20 KB.
fn split(scans: Vec<ScanData>) -> Vec<ScansBatchData> {
    let mut out = Vec::new();
    let mut chunk: Vec<ScanData> = Vec::new();
    let mut bytes = 0;
    for s in scans {
        let size = serde_json::to_string(&s).map_or(0, |j| j.len() + 1);
        if !chunk.is_empty() && (bytes + size > MAX_SCAN_BYTES || chunk.len() as i64 >= MAX_SCANS) {
            out.push(batch(std::mem::take(&mut chunk)));
            bytes = 0;
        }
        bytes += size;
        chunk.push(s);
    }
    if !chunk.is_empty() {
        out.push(batch(chunk));
    }
    out
}

fn batch(scans: Vec<ScanData>) -> ScansBatchData {
    let first = scans.first().map_or_else(Utc::now, |s| s.at);
    let last = scans.last().map_or(first, |s| s.at);
    ScansBatchData {
        window_start: first,
        window_end: last,
        count: scans.len(),
        scans,
    }
}

/// Closes the windows that are due; answers the events written and what to dispatch.
pub async fn flush(app: &AppState) -> anyhow::Result<(usize, Pending)> {
    let due = db::webhooks::scan_windows_due(&app.db, Utc::now() - WINDOW, MAX_SCANS).await?;
    let mut pending = Pending::default();
    let mut events = 0;
    for user in due {
        let mut tx = app.db.begin().await?;
        let mut taken = db::webhooks::take_scans(&mut tx, user, MAX_SCANS).await?;
        taken.sort_by_key(|(_, at)| *at);
        let scans: Vec<ScanData> = taken
            .into_iter()
            .filter_map(|(s, _)| serde_json::from_value(s.0).ok())
            .collect();
        for data in split(scans) {
            pending.merge(emit(&mut tx, user, EventType::ScansBatch, &data).await?);
            events += 1;
        }
        tx.commit().await?;
    }
    Ok((events, pending))
}

/// The Redis stream of `owner`'s live scans.
pub fn stream_key(namespace: &str, owner: Uuid) -> String {
    format!("{namespace}:live:{owner}")
}

/// The channel announcing which owners have new live scans.
pub fn channel(namespace: &str) -> String {
    format!("{namespace}:live")
}

/// Set while someone watches `owner`'s live stream (refreshed by the stream's heartbeat; it
/// outlives a disconnect by the time a reconnect may resume from).
pub fn watch_key(namespace: &str, owner: Uuid) -> String {
    format!("{namespace}:live-watch:{owner}")
}

/// Appends scans to their watched owners' live streams and announces them (after the batch
/// commits).
pub async fn publish(
    redis: &ConnectionManager,
    namespace: &str,
    wanted: &Wanted,
    scans: &[(Uuid, ScanData)],
) -> redis::RedisResult<()> {
    let mut by_owner: BTreeMap<Uuid, Vec<&ScanData>> = BTreeMap::new();
    for (o, s) in scans.iter().filter(|(o, _)| wanted.live.contains(o)) {
        by_owner.entry(*o).or_default().push(s);
    }
    if by_owner.is_empty() {
        return Ok(());
    }
    let oldest = (Utc::now() - chrono::Duration::from_std(STREAM_KEEP).unwrap_or_default())
        .timestamp_millis();
    let mut pipe = redis::pipe();
    for (owner, list) in &by_owner {
        let key = stream_key(namespace, *owner);
        for s in list {
            let json = serde_json::to_string(s).unwrap_or_default();
            pipe.cmd("XADD")
                .arg(&key)
                .arg("MINID")
                .arg("~")
                .arg(oldest)
                .arg("*")
                .arg("d")
                .arg(json)
                .ignore();
        }
        pipe.cmd("PEXPIRE")
            .arg(&key)
            .arg(STREAM_KEEP.as_millis() as u64 * 2)
            .ignore();
        pipe.cmd("PUBLISH")
            .arg(channel(namespace))
            .arg(owner.to_string())
            .ignore();
    }
    let mut conn = redis.clone();
    pipe.query_async::<()>(&mut conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(i: u32) -> ScanData {
        ScanData {
            id: Uuid::now_v7(),
            qr_id: Uuid::now_v7(),
            project_id: None,
            short_code: "abc1234".into(),
            at: Utc::now() + chrono::Duration::milliseconds(i64::from(i)),
            country: "IN".into(),
            city: "Mumbai".into(),
            device: "mobile".into(),
            os: "iOS".into(),
            browser: "Safari".into(),
            referer: String::new(),
            bot: false,
        }
    }

    #[test]
    fn batches_stay_under_20_kb_and_1000_scans() {
        let events = split((0..1000).map(scan).collect());
        assert!(events.len() > 1, "1,000 scans do not fit in 20 KB");
        assert_eq!(events.iter().map(|e| e.count).sum::<usize>(), 1000);
        for e in &events {
            let body =
                serde_json::json!({"type": "scans.batch", "timestamp": Utc::now(), "data": e});
            assert!(
                body.to_string().len() < 20 * 1024,
                "{}",
                body.to_string().len()
            );
            assert!(e.window_start <= e.window_end);
        }
        assert_eq!(split(vec![scan(1)]).len(), 1);
        assert!(split(Vec::new()).is_empty());
    }
}
