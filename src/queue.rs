//! Producer side of the apalis queues: every deployment's queues live under its Redis namespace.

use std::time::Duration;

use apalis_redis::{Config, RedisStorage};
use qrsaas_jobs::{Job, queue_name};
use redis::aio::ConnectionManager;

/// How long an enqueue's idempotency key is remembered: long enough to absorb retried requests
/// and concurrent schedulers, short enough that a later legitimate re-enqueue is not swallowed.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct Queues {
    redis: ConnectionManager,
    namespace: String,
}

impl Queues {
    pub fn new(redis: ConnectionManager, namespace: &str) -> Self {
        Queues {
            redis,
            namespace: namespace.to_owned(),
        }
    }

    /// The apalis storage of `J`'s queue (cheap: it shares the connection manager).
    pub fn storage<J: Job>(&self) -> RedisStorage<J> {
        RedisStorage::new(self.redis.clone()).with_config(
            Config::default()
                .queue(queue_name::<J>(&self.namespace))
                .idempotency_ttl(Some(IDEMPOTENCY_TTL)),
        )
    }

    pub async fn enqueue<J: Job>(&self, job: J) -> anyhow::Result<()> {
        let mut storage = self.storage::<J>();
        qrsaas_jobs::enqueue(&mut storage, job)
            .await
            .map_err(|e| anyhow::anyhow!("enqueue on {}: {e}", J::QUEUE))
    }
}
