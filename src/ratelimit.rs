//! Fixed-window counters in Redis, shared by every replica.
//!
//! When Redis is unreachable the limiter fails open (logs and counts `ratelimit_unavailable_total`):
//! refusing every login because the cache is down would turn a cache outage into a full outage,
//! and argon2 already makes each guess expensive.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::error::ApiError;

#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    namespace: String,
}

/// One limit: at most `limit` hits per `window_secs` for a key of this bucket.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bucket: &'static str,
    pub limit: u64,
    pub window_secs: u64,
}

impl RateLimiter {
    pub fn new(redis: ConnectionManager, namespace: &str) -> Self {
        RateLimiter {
            redis,
            namespace: namespace.to_owned(),
        }
    }

    fn key(&self, limit: &Limit, key: &str) -> String {
        format!("{}:rl:{}:{}", self.namespace, limit.bucket, key)
    }

    /// Refuses with 429 when the key has already used its budget; does not count.
    pub async fn check(&self, limit: &Limit, key: &str) -> Result<(), ApiError> {
        let k = self.key(limit, key);
        let mut redis = self.redis.clone();
        let res: redis::RedisResult<(Option<u64>, i64)> =
            redis::pipe().get(&k).ttl(&k).query_async(&mut redis).await;
        match res {
            Ok((Some(n), ttl)) if n >= limit.limit => Err(ApiError::RateLimited {
                retry_after_secs: if ttl > 0 {
                    ttl as u64
                } else {
                    limit.window_secs
                },
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                fail_open(&e);
                Ok(())
            }
        }
    }

    /// Counts one hit and returns the count in the current window.
    pub async fn hit(&self, limit: &Limit, key: &str) -> u64 {
        let k = self.key(limit, key);
        let mut redis = self.redis.clone();
        let res: redis::RedisResult<(u64, i64)> = redis::pipe()
            .incr(&k, 1u64)
            .expire(&k, limit.window_secs as i64)
            .arg("NX")
            .query_async(&mut redis)
            .await;
        match res {
            Ok((n, _)) => n,
            Err(e) => {
                fail_open(&e);
                0
            }
        }
    }

    /// Counts one hit and refuses with 429 once the budget is exceeded.
    pub async fn hit_or_refuse(&self, limit: &Limit, key: &str) -> Result<(), ApiError> {
        if self.hit(limit, key).await > limit.limit {
            return self.check(limit, key).await;
        }
        Ok(())
    }

    pub async fn reset(&self, limit: &Limit, key: &str) {
        let mut redis = self.redis.clone();
        if let Err(e) = redis.del::<_, ()>(self.key(limit, key)).await {
            fail_open(&e);
        }
    }
}

fn fail_open(e: &redis::RedisError) {
    metrics::counter!("ratelimit_unavailable_total").increment(1);
    tracing::warn!(error = %e, "rate limiter unavailable; allowing request");
}
