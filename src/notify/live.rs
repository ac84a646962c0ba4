//! The live scan stream's reading side (`GET /api/v1/scans/stream`, Server-Sent Events): each
//! API process holds one Redis pub/sub subscription (`listen`, started with the HTTP server)
//! that wakes the process's open streams, which then read their owner's Redis stream from the
//! last id they sent. A reconnect with `Last-Event-ID` reads on from that id, so nothing kept
//! (the last minute) is missed; a heartbeat comment every 15 s keeps proxies from closing it.
//! Memory stays bounded: a stream holds at most one read (≤ 500 scans) at a time, and only
//! produces more when the client has taken what it was given.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use redis::aio::ConnectionManager;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::events::ScanData;
use super::scans::{STREAM_KEEP, channel, stream_key, watch_key};

const HEARTBEAT: Duration = Duration::from_secs(15);
/// Scans read from Redis at once.
const READ: usize = 500;

/// Wakes a process's streams: the owners with new scans.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Uuid>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: broadcast::channel(1024).0,
        }
    }
}

/// Relays the announcements of new scans to this process's streams until `shutdown`;
/// reconnects after a Redis outage (streams catch up from their last id).
pub async fn listen(
    client: redis::Client,
    namespace: String,
    hub: Hub,
    shutdown: CancellationToken,
) {
    let chan = channel(&namespace);
    loop {
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&chan).await?;
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                if let Ok(owner) = msg.get_payload::<String>().map(|s| s.parse::<Uuid>()) {
                    let _ = owner.map(|o| hub.tx.send(o));
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = connected => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "live scans: subscription lost; reconnecting");
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Which of the owner's scans a stream shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub qr_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
}

impl Filter {
    fn keeps(&self, s: &ScanData) -> bool {
        self.qr_id.is_none_or(|q| q == s.qr_id)
            && self.project_id.is_none_or(|p| Some(p) == s.project_id)
    }
}

struct Reader {
    redis: ConnectionManager,
    key: String,
    /// Tells ingestion this owner is watched (set on start and every heartbeat).
    watch: String,
    owner: Uuid,
    filter: Filter,
    last: String,
    wake: broadcast::Receiver<Uuid>,
    out: VecDeque<Bytes>,
    /// Read once at the start (a reconnect's backlog), then on every wake.
    read_now: bool,
}

impl Reader {
    /// Reads what came after `last`; queues it as events.
    async fn read(&mut self) -> redis::RedisResult<()> {
        let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg(format!("({}", self.last))
            .arg("+")
            .arg("COUNT")
            .arg(READ)
            .query_async(&mut self.redis)
            .await?;
        for e in entries.ids {
            self.last = e.id.clone();
            let Some(redis::Value::BulkString(raw)) = e.map.get("d") else {
                continue;
            };
            let Ok(scan) = serde_json::from_slice::<ScanData>(raw) else {
                continue;
            };
            if self.filter.keeps(&scan) {
                let json = serde_json::to_string(&scan).unwrap_or_default();
                self.out.push_back(Bytes::from(format!(
                    "id: {}\nevent: scan\ndata: {json}\n\n",
                    e.id
                )));
            }
        }
        Ok(())
    }

    async fn watching(&mut self) {
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&self.watch)
            .arg(1)
            .arg("EX")
            .arg(STREAM_KEEP.as_secs().max(HEARTBEAT.as_secs() * 2))
            .query_async(&mut self.redis)
            .await;
        if let Err(e) = set {
            tracing::warn!(error = %e, "live scans: could not mark the stream watched");
        }
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.out.pop_front() {
                return Some(b);
            }
            if self.read_now {
                self.read_now = false;
                if let Err(e) = self.read().await {
                    tracing::warn!(error = %e, "live scans: read failed");
                }
                continue;
            }
            tokio::select! {
                woke = self.wake.recv() => match woke {
                    Ok(o) if o == self.owner => self.read_now = true,
                    Ok(_) => {}
                    // Missed wakes: read anyway.
                    Err(RecvError::Lagged(_)) => self.read_now = true,
                    Err(RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep(HEARTBEAT) => {
                    self.watching().await;
                    return Some(Bytes::from_static(b": keepalive\n\n"));
                }
            }
        }
    }
}

/// The event stream of `owner`'s scans from `last_id` (exclusive; now when absent).
pub fn stream(
    redis: ConnectionManager,
    namespace: &str,
    hub: &Hub,
    owner: Uuid,
    filter: Filter,
    last_id: Option<String>,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + use<> {
    let resume = last_id.filter(|id| is_stream_id(id));
    let reader = Reader {
        redis,
        key: stream_key(namespace, owner),
        watch: watch_key(namespace, owner),
        owner,
        filter,
        read_now: resume.is_some(),
        last: resume.unwrap_or_else(|| format!("{}-0", chrono::Utc::now().timestamp_millis())),
        wake: hub.tx.subscribe(),
        out: VecDeque::from([Bytes::from_static(b"retry: 2000\n\n")]),
    };
    futures::stream::unfold((reader, true), |(mut r, first)| async move {
        if first {
            r.watching().await;
        }
        let b = r.next().await?;
        Some((Ok(b), (r, false)))
    })
}

/// A Redis stream id (`<ms>-<seq>`): anything else in `Last-Event-ID` is ignored.
fn is_stream_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.len() <= 20
            && b.len() <= 20
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stream_ids_resume() {
        assert!(is_stream_id("1733000000000-0"));
        assert!(!is_stream_id("$"));
        assert!(!is_stream_id("1-"));
        assert!(!is_stream_id("0-0\r\nXDEL"));
    }
}
