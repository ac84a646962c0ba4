//! Test harness: every test gets its own app instance on port 0 with a fresh Postgres database,
//! a fresh ClickHouse database and its own Redis namespace, so tests run in parallel against the
//! real stores. External services are faked at the network boundary (see `smtp`, `oidc`).

pub mod decode;
pub mod oidc;
pub mod proxy;
pub mod receiver;
pub mod smtp;
pub mod stripe;

use std::thread::JoinHandle;
use std::time::Duration;

use qrsaas::config::Settings;
use qrsaas::startup::{self, Parts};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub const ADMIN_DB_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestApp {
    pub base: String,
    pub db: PgPool,
    pub settings: Settings,
    pub smtp: smtp::FakeSmtp,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Settings for an isolated instance; `smtp_port` is the fake SMTP server.
pub async fn isolated_settings(smtp_port: u16) -> Settings {
    let id = unique();
    let db_name = format!("qrsaas_t_{id}");
    let admin = PgPool::connect(ADMIN_DB_URL)
        .await
        .expect("admin connection");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{db_name}\""
    )))
    .execute(&admin)
    .await
    .expect("create test database");
    admin.close().await;
    let mut s = Settings {
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        http_workers: 2,
        database_url: format!("postgres://postgres@127.0.0.1:5432/{db_name}").into(),
        database_max_connections: 5,
        clickhouse_database: format!("qrsaas_t_{id}"),
        redis_namespace: format!("t_{id}"),
        shutdown_grace_secs: 5,
        uploads_dir: std::env::temp_dir().join(format!("qrsaas-test-{id}")),
        ..Settings::default()
    };
    s.smtp.port = smtp_port;
    s
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns an app whose settings `tweak` may change (e.g. to configure Google sign-in).
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_parts(Parts::ALL, tweak).await
    }

    pub async fn spawn_parts(parts: Parts, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let smtp = smtp::FakeSmtp::start().await;
        let mut settings = isolated_settings(smtp.port).await;
        tweak(&mut settings);
        Self::start(settings, parts, smtp).await
    }

    async fn start(settings: Settings, parts: Parts, smtp: smtp::FakeSmtp) -> TestApp {
        qrsaas::telemetry::init_tracing(qrsaas::config::LogFormat::Pretty);
        let shutdown = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let s = settings.clone();
        let token = shutdown.clone();
        // The app runs in its own actix System, as in production (actors need it).
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            actix_web::rt::System::with_tokio_rt(move || rt).block_on(startup::run(
                s,
                parts,
                token,
                Some(tx),
            ))
        });
        let addr = match rx.await {
            Ok(addr) => addr.unwrap_or_else(|| "127.0.0.1:9".parse().expect("addr")),
            Err(_) => panic!("app failed to start: {:?}", thread.join().map(|r| r.err())),
        };
        let db = PgPool::connect(secrecy::ExposeSecret::expose_secret(&settings.database_url))
            .await
            .expect("test db");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client");
        TestApp {
            base: format!("http://{addr}"),
            db,
            settings,
            smtp,
            http,
            shutdown,
            thread: Some(thread),
        }
    }

    /// A second `serve` instance on the same stores and namespace: another replica.
    pub async fn replica(&self) -> TestApp {
        self.replica_with(|_| {}).await
    }

    /// A replica whose settings `tweak` may change (its own address, when the app's is fixed).
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let parts = Parts {
            http: true,
            workers: false,
            scheduler: false,
            migrate: false,
        };
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        Self::start(settings, parts, self.smtp.clone()).await
    }

    /// Another full process (HTTP, workers and its own scheduler) on the same stores: two
    /// schedulers racing for every run.
    pub async fn replica_with_scheduler(&self) -> TestApp {
        let parts = Parts {
            http: true,
            workers: true,
            scheduler: true,
            migrate: false,
        };
        Self::start(self.settings.clone(), parts, self.smtp.clone()).await
    }

    /// The app's queues, to enqueue jobs as another producer would.
    pub async fn queues(&self) -> qrsaas::queue::Queues {
        let redis = redis::Client::open("redis://127.0.0.1:6379")
            .expect("redis url")
            .get_connection_manager()
            .await
            .expect("redis");
        qrsaas::queue::Queues::new(redis, &self.settings.redis_namespace)
    }

    /// ClickHouse straight (not through any test proxy), on the app's database.
    pub fn clickhouse(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url("http://127.0.0.1:8123")
            .with_database(&self.settings.clickhouse_database)
            .with_validation(false)
    }

    /// A `worker` process on the same stores: queue workers and actors, no HTTP.
    pub async fn replica_with_workers(&self) -> TestApp {
        self.workers_with(|_| {}).await
    }

    /// A `worker` process whose settings `tweak` may change (e.g. to reach Redis directly where
    /// the app goes through a test proxy).
    pub async fn workers_with(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        let parts = Parts {
            http: false,
            workers: true,
            scheduler: false,
            migrate: false,
        };
        Self::start(settings, parts, self.smtp.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let res = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics");
        res.text().await.expect("metrics body")
    }

    /// The actions of the audit log at `path` (`/api/v1/audit-logs` or the admin one), newest
    /// first.
    pub async fn audit_actions(&self, path: &str, token: &str) -> Vec<String> {
        let (_, log) = self.get(&format!("{path}?per_page=100"), Some(token)).await;
        log["items"]
            .as_array()
            .expect("audit items")
            .iter()
            .filter_map(|i| i["action"].as_str().map(str::to_owned))
            .collect()
    }

    /// Registers a user and returns (token, user id).
    pub async fn register(&self, email: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": "correct horse battery", "name": "Test User"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {email}: {body}");
        (
            body["token"].as_str().expect("token").to_owned(),
            body["user"]["id"].as_str().expect("id").to_owned(),
        )
    }

    /// Stops the app gracefully and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let thread = self.thread.take().expect("running");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("join")
            .map_err(|_| anyhow::anyhow!("app thread panicked"))?
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `check` until it yields a value; the deadline only bounds a failing test.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, Duration::from_secs(30), check).await
}

/// `eventually` with a deadline of its own, for work that is long by nature (thousands of codes).
pub async fn eventually_within<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
