//! What the in-process benchmarks share: a scratch Postgres database (and ClickHouse database
//! and Redis namespace) per run, the app running in its own actix System as in production, and
//! the clean-up afterwards.

// Each benchmark is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;

use qrsaas::config::Settings;
use qrsaas::startup::{self, Parts};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct BenchApp {
    pub settings: Settings,
    /// The HTTP address, when the parts serve HTTP.
    pub addr: Option<SocketAddr>,
    db_name: String,
    shutdown: CancellationToken,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl BenchApp {
    /// Starts `parts` on fresh stores named after `name`; `tweak` may change the settings.
    pub async fn start(
        name: &str,
        parts: Parts,
        tweak: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<BenchApp> {
        if std::env::var_os("RUST_LOG").is_some() {
            qrsaas::telemetry::init_tracing(qrsaas::config::LogFormat::Pretty);
        }
        let id = Uuid::new_v4().simple().to_string()[..10].to_owned();
        let db_name = format!("qrsaas_bench_{name}_{id}");
        let admin = PgPool::connect(ADMIN_DB).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{db_name}\""
        )))
        .execute(&admin)
        .await?;
        admin.close().await;
        let mut settings = Settings {
            database_url: format!("postgres://postgres@127.0.0.1:5432/{db_name}").into(),
            clickhouse_database: db_name.clone(),
            redis_namespace: format!("bench_{id}"),
            ..Settings::default()
        };
        tweak(&mut settings);
        let shutdown = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (s, token) = (settings.clone(), shutdown.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            actix_web::rt::System::with_tokio_rt(move || rt).block_on(startup::run(
                s,
                parts,
                token,
                Some(tx),
            ))
        });
        let addr = rx.await?;
        Ok(BenchApp {
            settings,
            addr,
            db_name,
            shutdown,
            thread,
        })
    }

    /// A pool on the run's Postgres database.
    pub async fn db(&self) -> anyhow::Result<PgPool> {
        Ok(PgPool::connect(secrecy::ExposeSecret::expose_secret(
            &self.settings.database_url,
        ))
        .await?)
    }

    /// Stops the app and drops the run's databases.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let _ = self.thread.join();
        let ch = qrsaas::analytics::client(&self.settings);
        let _ = ch
            .query(&format!("DROP DATABASE IF EXISTS {}", self.db_name))
            .execute()
            .await;
        let admin = PgPool::connect(ADMIN_DB).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.db_name
        )))
        .execute(&admin)
        .await?;
        Ok(())
    }
}
