//! Builds and runs the processes of `qrsaas`: which parts run depends on the subcommand.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::Supervisor;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use clap::Subcommand;
use secrecy::ExposeSecret;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::accounts::google::GoogleSignIn;
use crate::analytics::ingest::Ingestor;
use crate::billing::meter::UsageMeter;
use crate::cache::{self, Bus, Caches};
use crate::config::Settings;
use crate::notify::Notifier;
use crate::queue::Queues;
use crate::ratelimit::RateLimiter;
use crate::redirect::scans::{self, ScanBuffer};
use crate::scheduler::Scheduler;
use crate::state::AppState;
use crate::storage::LocalStore;
use crate::{admin, analytics, db, http, render, telemetry, worker};

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// API + redirects + workers + scheduler in one process (migrates first).
    All,
    /// API + redirects only; scale horizontally behind a load balancer.
    Serve,
    /// Queue workers and the actors they feed.
    Worker,
    /// The cron scheduler (enqueues only; safe on several hosts).
    Scheduler,
    /// Apply Postgres and ClickHouse migrations, then exit.
    Migrate,
    /// Operator commands.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Give the user with this e-mail the admin role.
    Promote { email: String },
    /// Rebuild the daily scan rollups of the UTC days FROM..=TO (YYYY-MM-DD): a backfill after
    /// an import or a long outage. Idempotent; the scheduler only catches up 31 days.
    Rollup {
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    },
}

/// Which long-running parts a process runs.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    pub http: bool,
    pub workers: bool,
    pub scheduler: bool,
    pub migrate: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        http: true,
        workers: true,
        scheduler: true,
        migrate: true,
    };
}

/// Entry point of the binary: builds the runtime and runs `command` to completion.
pub fn main(command: Command) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init_tracing(settings.log_format);
    // The actix System runs the actors (Supervisor needs it); the multi-thread tokio runtime
    // underneath lets apalis workers and blocking hashing use both cores.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    actix_web::rt::System::with_tokio_rt(move || rt).block_on(execute(command, settings))
}

async fn execute(command: Command, settings: Settings) -> anyhow::Result<()> {
    let parts = match command {
        Command::All => Parts::ALL,
        Command::Serve => Parts {
            http: true,
            workers: false,
            scheduler: false,
            migrate: false,
        },
        Command::Worker => Parts {
            http: false,
            workers: true,
            scheduler: false,
            migrate: false,
        },
        Command::Scheduler => Parts {
            http: false,
            workers: false,
            scheduler: true,
            migrate: false,
        },
        Command::Migrate => return migrate(&settings).await,
        Command::Admin(AdminCommand::Promote { email }) => {
            let user = admin::promote(&settings, &email).await?;
            println!("{} is now an admin", user.email);
            return Ok(());
        }
        Command::Admin(AdminCommand::Rollup { from, to }) => {
            let days = crate::analytics::rollup::backfill(&settings, from, to).await?;
            println!("rolled up {days} days");
            return Ok(());
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    run(settings, parts, shutdown, None).await
}

/// Connects to the stores and starts the render pool: what every part of a process shares.
/// (Needs a running actix System: the render pool is a set of actors.)
pub async fn build_state(settings: Arc<Settings>) -> anyhow::Result<(AppState, Arc<Caches>)> {
    let pool = db::connect(&settings).await?;
    let redis = redis::Client::open(settings.redis_url.expose_secret())?
        .get_connection_manager()
        .await?;
    let caches = Arc::new(Caches::new(settings.image_cache_mb));
    let state = AppState {
        db: pool,
        redis: redis.clone(),
        clickhouse: analytics::client(&settings),
        queues: Queues::new(redis.clone(), &settings.redis_namespace).with_heartbeat(
            Duration::from_secs(settings.queue_heartbeat_secs.max(1)),
            settings.queue_missed_heartbeats,
        ),
        limiter: RateLimiter::new(redis.clone(), &settings.redis_namespace),
        google: GoogleSignIn::from_settings(&settings)?.map(Arc::new),
        renderer: render::actor::start_pool(),
        store: Arc::new(LocalStore::new(&settings.uploads_dir)),
        bus: Bus::new(caches.clone(), redis, &settings.redis_namespace),
        scans: Arc::new(ScanBuffer::new(settings.scan_buffer_capacity)),
        billing: Arc::new(crate::billing::Billing::from_settings(&settings)?),
        mail: Arc::new(crate::notify::emails::Mailer::new(&settings)?),
        webhooks: Arc::new(crate::notify::webhooks::Webhooks::from_settings(&settings)?),
        sms: crate::notify::sms::Twilio::from_settings(&settings.sms)?
            .map(|t| Arc::new(t) as Arc<dyn crate::notify::sms::SmsProvider>),
        blocklist_file: Arc::new(crate::abuse::blocklist::load_file(
            settings.targets.blocklist_file.as_deref(),
        )?),
        decode_budget: Arc::new(crate::uploads::DecodeBudget::new(
            settings.upload_decode_budget_mb,
        )),
        lookups: crate::redirect::lookups::LookupBudget::new(settings.redirect_lookups_per_minute),
        live: crate::notify::live::Hub::default(),
        settings,
    };
    Ok((state, caches))
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    db::create_database_if_missing(settings).await?;
    let pool = db::connect(settings).await?;
    db::migrate(&pool).await?;
    let n = analytics::migrate(settings).await?;
    tracing::info!(clickhouse_applied = n, "migrations are up to date");
    Ok(())
}

async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
    token.cancel();
}

/// Runs `parts` until `shutdown` is cancelled, then drains them: the HTTP server finishes
/// in-flight requests, workers finish (or leave to be re-queued) their jobs, the scheduler stops.
/// Must run inside an actix `System`. `ready` receives the bound HTTP address once serving.
pub async fn run(
    settings: Settings,
    parts: Parts,
    shutdown: CancellationToken,
    ready: Option<oneshot::Sender<Option<SocketAddr>>>,
) -> anyhow::Result<()> {
    telemetry::init_metrics();
    let settings = Arc::new(settings);
    if parts.migrate {
        migrate(&settings).await?;
    }
    let (state, caches) = build_state(settings.clone()).await?;
    let (pool, redis, queues) = (state.db.clone(), state.redis.clone(), state.queues.clone());
    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    let shipper_stop = CancellationToken::new();

    let mut server = None;
    let mut addr = None;
    let mut subscriber = None;
    let mut live = None;
    let mut shipper = None;
    if parts.http {
        shipper = Some(tokio::spawn(scans::ship(
            state.scans.clone(),
            queues.clone(),
            shipper_stop.clone(),
        )));
        subscriber = Some(tokio::spawn(cache::subscribe(
            redis::Client::open(settings.redis_url.expose_secret())?,
            settings.redis_namespace.clone(),
            caches.clone(),
            shutdown.clone(),
        )));
        live = Some(tokio::spawn(crate::notify::live::listen(
            redis::Client::open(settings.redis_url.expose_secret())?,
            settings.redis_namespace.clone(),
            state.live.clone(),
            shutdown.clone(),
        )));
        let st = state.clone();
        let origins = settings.cors_allowed_origins.clone();
        let mut srv = HttpServer::new(move || {
            App::new()
                .wrap(http::cors(&origins))
                .wrap(from_fn(http::observe))
                .configure(|c| http::configure(c, &st))
                .default_service(web::to(http::unmatched))
        })
        .disable_signals()
        .shutdown_timeout(grace.as_secs())
        .bind(settings.http_addr)?;
        if settings.http_workers > 0 {
            srv = srv.workers(settings.http_workers);
        }
        addr = srv.addrs().first().copied();
        let running = srv.run();
        let handle = running.handle();
        let join = actix_web::rt::spawn(running);
        tracing::info!(addr = ?addr, "serving HTTP");
        server = Some((handle, join));
    }

    let mut workers = None;
    if parts.workers {
        let notifier = Notifier::new(state.clone())?;
        let notifier = Supervisor::start(move |_| notifier);
        let ingestor = Ingestor::new(state.clone())?;
        let ingestor = Supervisor::start(move |_| ingestor);
        let meter = UsageMeter::new(state.clone());
        let meter = Supervisor::start(move |_| meter);
        workers = Some(tokio::spawn(worker::run(
            state.clone(),
            worker::Actors {
                notifier,
                ingestor,
                meter,
            },
            shutdown.clone(),
        )));
    }

    let mut scheduler = None;
    if parts.scheduler {
        let s = Scheduler {
            queues: queues.clone(),
            redis: redis.clone(),
            namespace: settings.redis_namespace.clone(),
        };
        scheduler = Some(s.start().await?);
    }

    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }
    shutdown.cancelled().await;

    if let Some((handle, join)) = server {
        handle.stop(true).await;
        let _ = join.await;
    }
    // The shipper stops after the server, so scans of the last requests are shipped too.
    shipper_stop.cancel();
    if let Some(s) = shipper {
        let _ = s.await;
    }
    if let Some(s) = subscriber {
        let _ = s.await;
    }
    if let Some(l) = live {
        let _ = l.await;
    }
    if let Some(w) = workers {
        match w.await {
            Ok(Err(e)) => tracing::error!(error = %e, "workers stopped with an error"),
            Err(e) => tracing::error!(error = %e, "worker task failed"),
            Ok(Ok(())) => {}
        }
    }
    if let Some(mut s) = scheduler
        && let Err(e) = s.shutdown().await
    {
        tracing::error!(error = %e, "scheduler shutdown");
    }
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}
