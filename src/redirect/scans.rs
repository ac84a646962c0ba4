//! Scan hand-off from the redirect path: a bounded in-process buffer, and the "scan shipper"
//! loop that moves its contents to the `scans` queue in blocks every 100 ms.
//!
//! The redirect handler only pushes into the buffer (a mutex held for a `Vec::push`), so a slow
//! or absent Redis never delays a redirect. When the queue is unreachable the buffer keeps up to
//! its capacity; beyond it new scans are dropped and counted (`scans_dropped_total`).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use qrsaas_jobs::{IngestScans, ScanEvent};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::queue::Queues;

const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Most scans per queued job: under load a block becomes one ClickHouse insert of this many rows
/// (ClickHouse wants few, large inserts); at low rates blocks stay small and latency low.
const BLOCK: usize = 10_000;

pub struct ScanBuffer {
    events: Mutex<Vec<ScanEvent>>,
    capacity: usize,
}

impl ScanBuffer {
    pub fn new(capacity: usize) -> ScanBuffer {
        ScanBuffer {
            events: Mutex::new(Vec::with_capacity(1024)),
            capacity,
        }
    }

    /// Never blocks on I/O. False (and counted) when the buffer is full.
    pub fn push(&self, event: ScanEvent) -> bool {
        let mut events = self.events.lock();
        if events.len() >= self.capacity {
            drop(events);
            metrics::counter!("scans_dropped_total").increment(1);
            return false;
        }
        events.push(event);
        true
    }

    fn take(&self) -> Vec<ScanEvent> {
        std::mem::take(&mut *self.events.lock())
    }

    /// Returns unsent scans to the front of the buffer, dropping (and counting) what no longer fits.
    fn put_back(&self, mut unsent: Vec<ScanEvent>) {
        let mut events = self.events.lock();
        let room = self.capacity.saturating_sub(events.len());
        if unsent.len() > room {
            metrics::counter!("scans_dropped_total").increment((unsent.len() - room) as u64);
            unsent.truncate(room);
        }
        unsent.append(&mut events);
        *events = unsent;
    }

    pub fn len(&self) -> usize {
        self.events.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Ships what is buffered; returns false if the queue refused (the rest is put back).
async fn flush(buffer: &ScanBuffer, queues: &Queues) -> bool {
    let events = buffer.take();
    if events.is_empty() {
        return true;
    }
    let mut rest = events.into_iter().peekable();
    while rest.peek().is_some() {
        let block: Vec<ScanEvent> = rest.by_ref().take(BLOCK).collect();
        let n = block.len();
        let job = IngestScans {
            batch_id: Uuid::now_v7(),
            events: block,
        };
        if let Err(e) = queues.enqueue(job.clone()).await {
            tracing::warn!(error = %e, "scan shipper: queue unavailable; keeping scans in memory");
            metrics::counter!("scan_ship_failures_total").increment(1);
            let mut unsent = job.events;
            unsent.extend(rest);
            buffer.put_back(unsent);
            return false;
        }
        metrics::counter!("scans_shipped_total").increment(n as u64);
    }
    true
}

/// The "scan shipper" loop. On shutdown it flushes once more, so buffered scans are not lost.
pub async fn ship(buffer: Arc<ScanBuffer>, queues: Queues, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                flush(&buffer, &queues).await;
            }
        }
    }
    if !flush(&buffer, &queues).await {
        tracing::error!(
            lost = buffer.len(),
            "scan shipper: queue unavailable at shutdown; scans lost"
        );
        metrics::counter!("scans_dropped_total").increment(buffer.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u8) -> ScanEvent {
        ScanEvent {
            event_id: Uuid::from_bytes([n; 16]),
            qr_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            project_id: None,
            short_code: "x".into(),
            at: chrono::Utc::now(),
            ip: String::new(),
            user_agent: String::new(),
            referer: String::new(),
            country: None,
            city: None,
            keep_ip: false,
        }
    }

    #[test]
    fn bounded_and_order_preserving() {
        let b = ScanBuffer::new(3);
        assert!(b.push(ev(1)) && b.push(ev(2)));
        let taken = b.take();
        assert!(b.push(ev(3)));
        b.put_back(taken);
        let order: Vec<u8> = b.take().iter().map(|e| e.event_id.as_bytes()[0]).collect();
        assert_eq!(order, [1, 2, 3]);
        for i in 0..3 {
            assert!(b.push(ev(i)));
        }
        assert!(!b.push(ev(9)), "full");
        b.put_back(vec![ev(7)]);
        assert_eq!(b.len(), 3, "put_back never exceeds capacity");
    }
}
