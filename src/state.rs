//! What request handlers share: the stores, the queue producer and the settings.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use sqlx::PgPool;

use crate::accounts::cache::PrincipalCache;
use crate::accounts::google::GoogleSignIn;
use crate::billing::Billing;
use crate::cache::Bus;
use crate::codes::cache::ImageCache;
use crate::config::Settings;
use crate::queue::Queues;
use crate::ratelimit::RateLimiter;
use crate::redirect::cache::RedirectCache;
use crate::redirect::scans::ScanBuffer;
use crate::render::actor::Pool;
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
    pub renderer: Pool,
    pub store: Arc<dyn Store>,
    /// Cross-replica invalidation of the caches below.
    pub bus: Bus,
    pub principals: Arc<PrincipalCache>,
    pub images: Arc<ImageCache>,
    pub redirects: Arc<RedirectCache>,
    /// Customers' domains and their owners, for the redirect's `Host` check.
    pub hosts: Arc<crate::domains::hosts::HostMap>,
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
    pub decode_budget: Arc<crate::codes::uploads::DecodeBudget>,
    /// Uncached short-code lookups per client address.
    pub lookups: crate::redirect::lookups::LookupBudget,
    /// Wakes this process's live scan streams.
    pub live: crate::notify::live::Hub,
}
