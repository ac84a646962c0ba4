//! Scan hand-off from the redirect path: a bounded in-process buffer, and the "scan shipper"
//! loop that moves its contents to the `scans` queue in blocks every 100 ms.
//!
//! The redirect handler only pushes into the buffer (a mutex held for a `Vec::push`), so a slow
//! or absent Redis never delays a redirect. When the queue is unreachable the buffer keeps up to
//! its capacity (counting blocks sent but not confirmed); beyond it new scans are dropped and
//! counted (`scans_dropped_total`). A block the queue did not confirm is retried as the same
//! batch, so an ambiguous failure cannot count its scans twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Scans taken for shipping that the queue has not confirmed yet. They count against the
    /// capacity, so memory stays bounded however long the queue is away.
    in_flight: AtomicUsize,
    capacity: usize,
}

impl ScanBuffer {
    pub fn new(capacity: usize) -> ScanBuffer {
        ScanBuffer {
            events: Mutex::new(Vec::with_capacity(1024)),
            in_flight: AtomicUsize::new(0),
            capacity,
        }
    }

    /// Never blocks on I/O. False (and counted) when the buffer is full.
    pub fn push(&self, event: ScanEvent) -> bool {
        let mut events = self.events.lock();
        if events.len() + self.in_flight.load(Ordering::Relaxed) >= self.capacity {
            drop(events);
            metrics::counter!("scans_dropped_total").increment(1);
            return false;
        }
        events.push(event);
        true
    }

    /// Takes what is buffered for shipping; it stays counted until `confirmed`.
    fn take(&self) -> Vec<ScanEvent> {
        let mut events = self.events.lock();
        self.in_flight.fetch_add(events.len(), Ordering::Relaxed);
        std::mem::take(&mut *events)
    }

    /// `n` taken scans are in the queue.
    fn confirmed(&self, n: usize) {
        self.in_flight.fetch_sub(n, Ordering::Relaxed);
    }

    /// Scans held in memory: buffered, or taken and not yet confirmed by the queue.
    pub fn len(&self) -> usize {
        self.events.lock().len() + self.in_flight.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Blocks the queue has not confirmed, oldest first, each with its batch id. An enqueue that
/// fails may still have reached Redis (a timeout after the write), so a block is retried as the
/// same batch: the queue's idempotency key and the ingestor's batch record count it once (a new
/// batch id for the same scans would have counted them twice).
type Unconfirmed = VecDeque<IngestScans>;

/// Sends the unconfirmed blocks in order; false (the rest kept) if the queue refused one.
async fn send(unconfirmed: &mut Unconfirmed, buffer: &ScanBuffer, queues: &Queues) -> bool {
    while let Some(job) = unconfirmed.front() {
        if let Err(e) = queues.enqueue(job.clone()).await {
            tracing::warn!(error = %e, "scan shipper: queue unavailable; keeping scans in memory");
            metrics::counter!("scan_ship_failures_total").increment(1);
            return false;
        }
        let n = job.events.len();
        unconfirmed.pop_front();
        buffer.confirmed(n);
        metrics::counter!("scans_shipped_total").increment(n as u64);
    }
    true
}

/// Ships earlier unconfirmed blocks, then what is buffered; false if the queue refused.
async fn flush(buffer: &ScanBuffer, queues: &Queues, unconfirmed: &mut Unconfirmed) -> bool {
    if !send(unconfirmed, buffer, queues).await {
        return false;
    }
    let mut rest = buffer.take().into_iter().peekable();
    while rest.peek().is_some() {
        unconfirmed.push_back(IngestScans {
            batch_id: Uuid::now_v7(),
            events: rest.by_ref().take(BLOCK).collect(),
        });
    }
    send(unconfirmed, buffer, queues).await
}

/// The "scan shipper" loop. On shutdown it flushes once more, so buffered scans are not lost.
pub async fn ship(buffer: Arc<ScanBuffer>, queues: Queues, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unconfirmed = Unconfirmed::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                flush(&buffer, &queues, &mut unconfirmed).await;
            }
        }
    }
    if !flush(&buffer, &queues, &mut unconfirmed).await {
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
    fn bounded_including_scans_in_flight() {
        let b = ScanBuffer::new(3);
        assert!(b.push(ev(1)) && b.push(ev(2)));
        let taken = b.take();
        assert_eq!(taken.len(), 2);
        assert!(b.push(ev(3)));
        assert!(
            !b.push(ev(4)),
            "two unconfirmed + one buffered fill a capacity of 3"
        );
        assert_eq!(b.len(), 3);
        b.confirmed(taken.len());
        assert!(b.push(ev(5)) && b.push(ev(6)));
        let order: Vec<u8> = b.take().iter().map(|e| e.event_id.as_bytes()[0]).collect();
        assert_eq!(order, [3, 5, 6]);
    }
}
