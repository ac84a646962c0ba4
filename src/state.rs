//! What request handlers share: the stores, the queue producer and the settings.

use std::sync::Arc;

use actix::Addr;

use redis::aio::ConnectionManager;
use sqlx::PgPool;

use crate::accounts::google::GoogleSignIn;
use crate::billing::Billing;
use crate::cache::Bus;
use crate::config::Settings;
use crate::queue::Queues;
use crate::ratelimit::RateLimiter;
use crate::redirect::scans::ScanBuffer;
use crate::render::actor::Renderer;
use crate::storage::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub clickhouse: clickhouse::Client,
    pub queues: Queues,
    pub limiter: RateLimiter,
    pub google: Option<Arc<GoogleSignIn>>,
    pub renderer: Addr<Renderer>,
    pub store: Arc<dyn Store>,
    /// In-process caches and their cross-replica invalidation.
    pub bus: Bus,
    /// Scans waiting to be shipped to the queue.
    pub scans: Arc<ScanBuffer>,
    /// Plans, limits and the Stripe client.
    pub billing: Arc<Billing>,
    /// E-mail templates and unsubscribe links.
    pub mail: Arc<crate::notify::emails::Mailer>,
    /// Webhook signing secrets and the SSRF-safe client.
    pub webhooks: Arc<crate::notify::webhooks::Webhooks>,
    /// The SMS provider, when one is configured.
    pub sms: Option<Arc<dyn crate::notify::sms::SmsProvider>>,
    /// Blocked destinations from the configured file (the API's live in Postgres).
    pub blocklist_file: Arc<Vec<String>>,
    /// Memory for decoding uploaded images, shared by all uploads.
    pub decode_budget: Arc<crate::uploads::DecodeBudget>,
    /// Uncached short-code lookups per client address.
    pub lookups: crate::redirect::lookups::LookupBudget,
    /// Wakes this process's live scan streams.
    pub live: crate::notify::live::Hub,
}
