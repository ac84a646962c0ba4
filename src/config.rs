//! Typed settings: defaults, overridden by the environment.
//!
//! Every key can be set as `QRSAAS_<KEY>` (nested keys with `__`, e.g. `QRSAAS_SMTP__HOST`); the
//! conventional `DATABASE_URL`, `REDIS_URL` and `CLICKHOUSE_URL` are honoured as well. The defaults
//! match what `scripts/services` brings up, so a fresh machine needs no configuration. Secrets are
//! `SecretString`s: their `Debug` is redacted, so logging the settings never leaks them.

use std::net::SocketAddr;

use figment::Figment;
use figment::providers::Env;
use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the HTTP server (API + redirects) binds to.
    pub http_addr: SocketAddr,
    /// HTTP worker threads; 0 = one per core.
    pub http_workers: usize,
    /// Public base URL, used for short URLs and OAuth redirects.
    pub public_base_url: String,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub redis_url: SecretString,
    /// Prefix of every Redis key and queue this deployment uses.
    pub redis_namespace: String,
    pub clickhouse_url: String,
    pub clickhouse_database: String,
    pub clickhouse_user: String,
    pub clickhouse_password: SecretString,
    /// Server secret: salts the daily visitor hash. Set a long random value in production.
    pub secret_key: SecretString,
    /// Origins allowed by CORS; empty = same-origin only.
    pub cors_allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed when finding the client IP.
    pub trusted_proxies: Vec<IpNet>,
    /// Largest JSON request body, in bytes.
    pub json_body_limit: usize,
    pub session_ttl_days: i64,
    pub auth_limits: AuthLimits,
    pub smtp: SmtpSettings,
    pub google: GoogleSettings,
    /// Directory of the local file store (uploads, exports).
    pub uploads_dir: std::path::PathBuf,
    /// Scans held in memory while the queue is unreachable; beyond this they are dropped.
    pub scan_buffer_capacity: usize,
    /// Short-code lookups that miss the cache (each a Postgres query) one client address may
    /// cause per minute; past it, 429 without a query.
    pub redirect_lookups_per_minute: u32,
    /// A MaxMind-format (.mmdb, GeoIP2/GeoLite2 City or Country) database for scan geography
    /// when no trusted proxy sends geo headers. Unset: no IP lookup.
    pub geoip_db: Option<std::path::PathBuf>,
    /// Raw scan events are kept this many months (whole monthly partitions are dropped after);
    /// the daily aggregates are kept.
    pub scan_retention_months: u32,
    /// Hours an export's ZIP is kept for download before the clean-up schedule deletes it.
    pub export_ttl_hours: u32,
    /// Memory for cached rendered images, in MiB.
    pub image_cache_mb: u64,
    /// Memory (MiB) all uploads together may hold decoding images; more wait their turn.
    pub upload_decode_budget_mb: u32,
    /// Seconds the shutdown waits for in-flight work before giving up.
    pub shutdown_grace_secs: u64,
    /// Seconds between a queue worker's heartbeats. A worker that misses
    /// `queue_missed_heartbeats` of them in a row (its process was killed or lost) is taken
    /// for dead and the jobs it held are delivered again to the living workers.
    pub queue_heartbeat_secs: u64,
    pub queue_missed_heartbeats: usize,
    /// Seconds a finished job's payload stays in Redis before the vacuum (every 10 minutes)
    /// deletes it. Longer than any retry's wait: a job waiting for a retry is "finished" to
    /// apalis-redis until it runs again.
    pub queue_vacuum_after_secs: u64,
    pub log_format: LogFormat,
    pub billing: BillingSettings,
    pub stripe: StripeSettings,
    pub webhooks: WebhookSettings,
    pub sms: SmsSettings,
    pub targets: TargetSettings,
    pub accounts: AccountSettings,
    pub domains: DomainSettings,
}

/// Custom short domains.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DomainSettings {
    /// DNS servers (`ip:port`) that verification asks for `_qrsaas.<domain>` TXT records;
    /// empty: the system's resolver.
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// The port the HTTP token check connects to: 80, unless plain HTTP reaches this service's
    /// proxy on another port.
    pub http_port: u16,
}

impl Default for DomainSettings {
    fn default() -> DomainSettings {
        DomainSettings {
            dns_servers: Vec::new(),
            http_port: 80,
        }
    }
}

/// Account policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    /// Hold back webhooks and checkout until the account's e-mail address is verified.
    pub require_verified_email: bool,
}

/// What redirect targets may point at.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TargetSettings {
    /// Private and link-local addresses and internal names as targets (on-premises use);
    /// loopback and this service's own hosts stay refused.
    pub allow_private: bool,
    /// A file of blocked destinations (hosts or `*` patterns, one per line, `#` comments),
    /// read at start-up, besides those added through the admin API.
    pub blocklist_file: Option<std::path::PathBuf>,
}

/// Outgoing webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// Private ranges receivers may be in (on-premises receivers); everything else must be a
    /// global unicast address.
    pub allowed_cidrs: Vec<IpNet>,
    /// Waits before the 2nd, 3rd … attempt (jittered ±10 %); after the last, the delivery fails.
    pub retry_schedule_secs: Vec<u64>,
    /// Per attempt.
    pub timeout_secs: u64,
    /// An endpoint failing this long without a success is disabled and its owner e-mailed.
    pub disable_after_hours: u64,
}

/// SMS through a Twilio-shaped Messages API; off unless an account and token are set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmsSettings {
    pub api_base: String,
    pub account_sid: Option<String>,
    pub auth_token: Option<SecretString>,
    /// The sender number (E.164).
    pub from: Option<String>,
}

/// Plans and limits (see `config/plans.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BillingSettings {
    /// A plan catalogue replacing the shipped `config/plans.toml`.
    pub plans_file: Option<std::path::PathBuf>,
    /// The plan of accounts without a subscription or an operator's choice. `self_hosted` (no
    /// limits) by default; an operator who sells the service sets `free`.
    pub default_plan: String,
    /// Days a `past_due` subscription keeps its plan before the account falls back to the
    /// default plan.
    pub grace_days: i64,
}

/// Stripe. Without a secret key, checkout and portal answer 503 `billing_disabled`; plans,
/// limits, credits and operator-set plans work regardless.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StripeSettings {
    pub secret_key: Option<SecretString>,
    /// Every signing secret incoming webhooks may be signed with (several while one is rolled).
    pub webhook_secrets: Vec<SecretString>,
    /// Stripe's API (tests point it at a local fake).
    pub api_base: String,
    /// Where Checkout sends the customer after paying / giving up; default: the public URL.
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Failed-login budget per window; beyond it login answers 429.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthLimits {
    pub window_secs: u64,
    pub failures_per_ip: u64,
    /// Failed logins for one account from one client address per `window_secs`: what stops a
    /// guesser without letting a stranger lock the owner out from elsewhere.
    pub failures_per_email_and_ip: u64,
    /// Failed logins for one account from all addresses per `email_window_secs`: the slow,
    /// global brake on a distributed guesser.
    pub failures_per_email: u64,
    pub email_window_secs: u64,
    pub registrations_per_ip: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
    pub timeout_secs: u64,
    /// `smtp` (the relay above) or `file`: each message written as an `.eml` file into
    /// `file_dir`, for a machine without a relay (what `scripts/run` does when no SMTP relay is
    /// configured).
    pub transport: MailTransport,
    pub file_dir: std::path::PathBuf,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    Smtp,
    File,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on localhost or a test server.
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct GoogleSettings {
    /// Sign-in with Google is offered only when a client id is set.
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    /// OIDC issuer; discovery is read from `{issuer}/.well-known/openid-configuration`.
    pub issuer_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            http_workers: 0,
            public_base_url: "http://127.0.0.1:8080".into(),
            database_url: "postgres://postgres@127.0.0.1:5432/qrsaas".into(),
            database_max_connections: 20,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_namespace: "qrsaas".into(),
            clickhouse_url: "http://127.0.0.1:8123".into(),
            clickhouse_database: "qrsaas".into(),
            clickhouse_user: "default".into(),
            clickhouse_password: "".into(),
            secret_key: "qrsaas-development-secret".into(),
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            json_body_limit: 256 * 1024,
            session_ttl_days: 30,
            auth_limits: AuthLimits::default(),
            smtp: SmtpSettings::default(),
            google: GoogleSettings::default(),
            uploads_dir: "uploads".into(),
            image_cache_mb: 256,
            upload_decode_budget_mb: 160,
            scan_buffer_capacity: 200_000,
            redirect_lookups_per_minute: 120,
            geoip_db: None,
            scan_retention_months: 25,
            export_ttl_hours: 72,
            shutdown_grace_secs: 30,
            // A dead worker's jobs come back after 30 s (apalis-redis's own 30 s × 10 would
            // strand them for five minutes), well past any pause of a live one.
            queue_heartbeat_secs: 5,
            queue_missed_heartbeats: 6,
            queue_vacuum_after_secs: 3600,
            log_format: LogFormat::Pretty,
            billing: BillingSettings::default(),
            stripe: StripeSettings::default(),
            webhooks: WebhookSettings::default(),
            sms: SmsSettings::default(),
            targets: TargetSettings::default(),
            accounts: AccountSettings::default(),
            domains: DomainSettings::default(),
        }
    }
}

impl Default for BillingSettings {
    fn default() -> Self {
        BillingSettings {
            plans_file: None,
            default_plan: "self_hosted".into(),
            grace_days: 7,
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allowed_cidrs: Vec::new(),
            // Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
            retry_schedule_secs: vec![5, 300, 1800, 7200, 18000, 36000, 36000],
            timeout_secs: 15,
            disable_after_hours: 5 * 24,
        }
    }
}

impl Default for SmsSettings {
    fn default() -> Self {
        SmsSettings {
            api_base: "https://api.twilio.com".into(),
            account_sid: None,
            auth_token: None,
            from: None,
        }
    }
}

impl Default for StripeSettings {
    fn default() -> Self {
        StripeSettings {
            secret_key: None,
            webhook_secrets: Vec::new(),
            api_base: "https://api.stripe.com/".into(),
            success_url: None,
            cancel_url: None,
        }
    }
}

impl Default for AuthLimits {
    fn default() -> Self {
        AuthLimits {
            window_secs: 900,
            failures_per_ip: 30,
            failures_per_email_and_ip: 5,
            failures_per_email: 50,
            email_window_secs: 86_400,
            registrations_per_ip: 20,
        }
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: 1025,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "qrsaas <no-reply@qrsaas.local>".into(),
            timeout_secs: 10,
            transport: MailTransport::Smtp,
            file_dir: "mail".into(),
        }
    }
}

impl Default for GoogleSettings {
    fn default() -> Self {
        GoogleSettings {
            client_id: None,
            client_secret: None,
            issuer_url: "https://accounts.google.com".into(),
        }
    }
}

impl Settings {
    /// Defaults, then `DATABASE_URL`/`REDIS_URL`/`CLICKHOUSE_URL`, then `QRSAAS_*`.
    pub fn load() -> Result<Settings, Box<figment::Error>> {
        Figment::new()
            .merge(Env::raw().only(&["database_url", "redis_url", "clickhouse_url"]))
            .merge(Env::prefixed("QRSAAS_").split("__"))
            .extract()
            .map_err(Box::new)
    }

    /// The short-URL base for `/r/{code}` links.
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{}", self.public_base_url.trim_end_matches('/'), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn env_overrides_defaults_and_secrets_stay_hidden() {
        #[allow(clippy::result_large_err)] // figment's Jail API
        figment::Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://u:hunter2@db/x");
            jail.set_env("QRSAAS_SMTP__PORT", "2525");
            jail.set_env("QRSAAS_TRUSTED_PROXIES", "[\"10.0.0.0/8\"]");
            jail.set_env("QRSAAS_STRIPE__SECRET_KEY", "sk_test_hunter3");
            jail.set_env(
                "QRSAAS_STRIPE__WEBHOOK_SECRETS",
                "[\"whsec_old\", \"whsec_new\"]",
            );
            jail.set_env("QRSAAS_BILLING__DEFAULT_PLAN", "free");
            let s = Settings::load().expect("settings load");
            assert_eq!(s.database_url.expose_secret(), "postgres://u:hunter2@db/x");
            assert_eq!(s.smtp.port, 2525);
            assert_eq!(s.trusted_proxies.len(), 1);
            assert!(!format!("{s:?}").contains("hunter2"));
            assert!(!format!("{s:?}").contains("hunter3"));
            assert!(!format!("{s:?}").contains("whsec_old"));
            assert_eq!(s.stripe.webhook_secrets.len(), 2);
            assert_eq!(s.billing.default_plan, "free");
            assert_eq!(s.billing.grace_days, 7);
            Ok(())
        });
    }
}
