//! Producer side of the apalis queues: every deployment's queues live under its Redis namespace.

use std::time::Duration;

use apalis_core::backend::Vacuum;
use apalis_redis::{Config, RedisStorage};
use qrsaas_jobs::{Job, QUEUES, named_queue};
use redis::aio::ConnectionManager;

/// How long an enqueue's idempotency key is remembered: long enough to absorb retried requests
/// and concurrent schedulers, short enough that a later legitimate re-enqueue is not swallowed.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(600);
/// apalis-redis's own default.
const DEFAULT_BATCH: usize = 10;

#[derive(Clone)]
pub struct Queues {
    redis: ConnectionManager,
    namespace: String,
    /// Workers' heartbeat interval and the beats missed before one is taken for dead; unset,
    /// apalis-redis's own (30 s × 10) applies. Only processes that run workers need it.
    heartbeat: Option<(Duration, usize)>,
}

impl Queues {
    pub fn new(redis: ConnectionManager, namespace: &str) -> Self {
        Queues {
            redis,
            namespace: namespace.to_owned(),
            heartbeat: None,
        }
    }

    /// Workers built from these queues beat every `every`; one silent for `missed` beats is
    /// dead and its in-flight jobs go back on the queue.
    pub fn with_heartbeat(mut self, every: Duration, missed: usize) -> Self {
        self.heartbeat = Some((every, missed.max(1)));
        self
    }

    /// The apalis storage of `J`'s queue (cheap: it shares the connection manager).
    pub fn storage<J: Job>(&self) -> RedisStorage<J> {
        self.storage_batched::<J>(DEFAULT_BATCH)
    }

    /// `storage`, fetching up to `batch` jobs per poll: queues whose jobs are many and short
    /// (webhook deliveries) would otherwise be held back by the fetch, not by the work.
    pub fn storage_batched<J: Job>(&self, batch: usize) -> RedisStorage<J> {
        RedisStorage::new(self.redis.clone()).with_config(self.config(J::QUEUE, batch))
    }

    fn config(&self, queue: &str, batch: usize) -> Config {
        let mut config = Config::default()
            .queue(named_queue(&self.namespace, queue))
            .idempotency_ttl(Some(IDEMPOTENCY_TTL))
            .batch_size(batch.max(1))
            // Nothing listens to apalis' per-task pub/sub events: one PUBLISH less per task.
            .emit_events(false)
            // A fetched job is already in its worker's in-flight set (what brings a dead
            // worker's jobs back); the extra lease only searched the whole waiting list for
            // each job (LREM), which made every job cost as much as the backlog was long.
            .lock_tasks(false);
        if let Some((every, missed)) = self.heartbeat {
            config = config.heartbeat_interval(every).missed_heartbeats(missed);
        }
        config
    }

    /// Deletes the stored payloads and results of `queue`'s jobs that finished more than `age`
    /// ago; answers how many. apalis-redis keeps every finished job's payload until told to: a
    /// `scans` block is megabytes, so without this Redis grows with every scan ever made.
    pub async fn vacuum(&self, queue: &str, age: Duration) -> anyhow::Result<usize> {
        // Vacuuming reads no payload, so the storage's job type does not matter.
        RedisStorage::<()>::new(self.redis.clone())
            .with_config(self.config(queue, DEFAULT_BATCH))
            .vacuum_before(age)
            .await
            .map_err(|e| anyhow::anyhow!("vacuum of {queue}: {e}"))
    }

    /// `enqueue`, to run no earlier than `delay` from now (apalis-redis keeps it in its
    /// schedule until then).
    pub async fn enqueue_after<J: Job>(&self, job: J, delay: Duration) -> anyhow::Result<()> {
        let mut storage = self.storage::<J>();
        qrsaas_jobs::enqueue_after(&mut storage, job, delay)
            .await
            .map_err(|e| anyhow::anyhow!("enqueue on {}: {e}", J::QUEUE))
    }

    /// Jobs waiting in `queue` (apalis-redis keeps them in the `:active` list); `None` when
    /// Redis cannot be asked.
    pub async fn depth(&self, queue: &str) -> Option<u64> {
        let key = format!("{}:active", named_queue(&self.namespace, queue));
        redis::cmd("LLEN")
            .arg(key)
            .query_async::<u64>(&mut self.redis.clone())
            .await
            .ok()
    }

    /// `depth` of every queue, by queue name.
    pub async fn depths(&self) -> std::collections::BTreeMap<String, Option<u64>> {
        let depths = futures::future::join_all(QUEUES.iter().map(|q| self.depth(q))).await;
        QUEUES.iter().map(|q| (*q).to_owned()).zip(depths).collect()
    }

    pub async fn enqueue<J: Job>(&self, job: J) -> anyhow::Result<()> {
        let mut storage = self.storage::<J>();
        qrsaas_jobs::enqueue(&mut storage, job)
            .await
            .map_err(|e| anyhow::anyhow!("enqueue on {}: {e}", J::QUEUE))
    }
}
