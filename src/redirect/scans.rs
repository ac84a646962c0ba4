//! Scan hand-off from the redirect path: a bounded in-process buffer, and the "scan shipper"
//! loop that moves its contents to the `scans` queue in blocks every 100 ms.
//!
//! The redirect handler only packs the scan into the buffer's current block (a mutex held while
//! a few hundred bytes are written), so a slow or absent Redis never delays a redirect. When the queue is unreachable the buffer keeps up to
//! its capacity (counting blocks sent but not confirmed); beyond it new scans are dropped and
//! counted (`scans_dropped_total`). A block the queue did not confirm is retried as the same
//! batch, so an ambiguous failure cannot count its scans twice (tested: the outage tests'
//! `an_enqueue_whose_reply_is_lost_queues_its_scans_once`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use qrsaas_jobs::{ScanBlock, ScanEvent, ShipScans};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::queue::Queues;

const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Most scans per queued job: under load a block becomes one ClickHouse insert of this many rows
/// (ClickHouse wants few, large inserts); at low rates blocks stay small and latency low.
const BLOCK: usize = 10_000;

pub struct ScanBuffer {
    pending: Mutex<Pending>,
    /// Scans taken for shipping that the queue has not confirmed yet. They count against the
    /// capacity, so memory stays bounded however long the queue is away.
    in_flight: AtomicUsize,
    capacity: usize,
}

/// Scans served and not yet taken for shipping, already in their wire form.
#[derive(Default)]
struct Pending {
    /// Blocks that reached [`BLOCK`] scans.
    full: Vec<ScanBlock>,
    filling: ScanBlock,
}

impl Pending {
    fn scans(&self) -> usize {
        self.full.len() * BLOCK + self.filling.len()
    }

    /// The block being filled, replaced by an empty one sized like it (so a block is not
    /// copied as it grows).
    fn seal(&mut self) -> ScanBlock {
        let next = ScanBlock::with_capacity(self.filling.size());
        std::mem::replace(&mut self.filling, next)
    }
}

impl ScanBuffer {
    pub fn new(capacity: usize) -> ScanBuffer {
        ScanBuffer {
            pending: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            capacity,
        }
    }

    /// Packs `scan` (no owned copy of its strings is made). Never blocks on I/O. False (and
    /// counted) when the buffer is full. Packing happens under the lock: it is a few hundred
    /// nanoseconds of writing into a `Vec`, no longer than the copy an owned event would cost.
    pub fn push(&self, scan: &ScanEvent<&str>) -> bool {
        let mut pending = self.pending.lock();
        if pending.scans() + self.in_flight.load(Ordering::Relaxed) >= self.capacity {
            drop(pending);
            metrics::counter!("scans_dropped_total").increment(1);
            return false;
        }
        pending.filling.push(scan);
        if pending.filling.len() >= BLOCK {
            let full = pending.seal();
            pending.full.push(full);
        }
        true
    }

    /// Takes what is buffered for shipping, in blocks of at most [`BLOCK`] scans; it stays
    /// counted until `confirmed`.
    fn take(&self) -> Vec<ScanBlock> {
        let mut pending = self.pending.lock();
        self.in_flight.fetch_add(pending.scans(), Ordering::Relaxed);
        let mut blocks = std::mem::take(&mut pending.full);
        if !pending.filling.is_empty() {
            blocks.push(pending.seal());
        }
        blocks
    }

    /// `n` taken scans are in the queue.
    fn confirmed(&self, n: usize) {
        self.in_flight.fetch_sub(n, Ordering::Relaxed);
    }

    /// Scans held in memory: buffered, or taken and not yet confirmed by the queue.
    pub fn len(&self) -> usize {
        self.pending.lock().scans() + self.in_flight.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Blocks the queue has not confirmed, oldest first, each with its batch id. An enqueue that
/// fails may still have reached Redis (a timeout after the write), so a block is retried as the
/// same batch: the queue's idempotency key and the ingestor's batch record count it once (a new
/// batch id for the same scans would have counted them twice).
type Unconfirmed = VecDeque<ShipScans>;

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
    for events in buffer.take() {
        unconfirmed.push_back(ShipScans {
            batch_id: Uuid::now_v7(),
            events,
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

    fn ev(n: u8) -> ScanEvent<&'static str> {
        ScanEvent {
            event_id: Uuid::from_bytes([n; 16]),
            qr_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            project_id: None,
            short_code: "x",
            at: chrono::Utc::now(),
            ip: None,
            user_agent: "",
            referer: "",
            country: None,
            city: None,
            keep_ip: false,
            variant: 0,
        }
    }

    fn ids(blocks: &[ScanBlock]) -> Vec<u8> {
        let events = blocks.iter().flat_map(|b| b.decode().unwrap());
        events.map(|e| e.event_id.as_bytes()[0]).collect()
    }

    #[test]
    fn bounded_including_scans_in_flight() {
        let b = ScanBuffer::new(3);
        assert!(b.push(&ev(1)) && b.push(&ev(2)));
        let taken = b.take();
        assert_eq!(ids(&taken), [1, 2]);
        assert!(b.push(&ev(3)));
        assert!(
            !b.push(&ev(4)),
            "two unconfirmed + one buffered fill a capacity of 3"
        );
        assert_eq!(b.len(), 3);
        b.confirmed(2);
        assert!(b.push(&ev(5)) && b.push(&ev(6)));
        assert_eq!(ids(&b.take()), [3, 5, 6]);
        assert!(b.take().is_empty(), "nothing buffered, no empty block");
    }

    #[test]
    fn taken_in_blocks_of_at_most_block_scans() {
        let b = ScanBuffer::new(usize::MAX);
        for n in 0..BLOCK * 2 + 1 {
            assert!(b.push(&ev((n % 251) as u8)));
        }
        let sizes: Vec<usize> = b.take().iter().map(ScanBlock::len).collect();
        assert_eq!(sizes, [BLOCK, BLOCK, 1]);
        assert_eq!(b.len(), BLOCK * 2 + 1, "taken, not yet confirmed");
    }
}
