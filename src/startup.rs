//! Builds and runs the processes of `qrsaas`: which parts run depends on the subcommand.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix::Supervisor;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use clap::Subcommand;
use futures::FutureExt;
use secrecy::ExposeSecret;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::accounts::admin;
use crate::accounts::cache::PrincipalCache;
use crate::accounts::google::GoogleSignIn;
use crate::analytics::ingest::Ingestor;
use crate::billing::meter::UsageMeter;
use crate::cache::{self, Bus, Caches};
use crate::codes::cache::ImageCache;
use crate::config::Settings;
use crate::notify::Notifier;
use crate::queue::Queues;
use crate::ratelimit::RateLimiter;
use crate::redirect::cache::RedirectCache;
use crate::redirect::scans::{self, ScanBuffer};
use crate::rollups::Rollups;
use crate::scheduler::Scheduler;
use crate::state::AppState;
use crate::storage::LocalStore;
use crate::{analytics, db, http, render, telemetry, worker};

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
            let days = crate::rollups::backfill(&settings, from, to).await?;
            println!("rolled up {days} days");
            return Ok(());
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    run(settings, parts, shutdown, None).await
}

/// Connects to the stores: what every part of a process shares. The render pool is started by
/// the parts that render (see `start`).
pub async fn build_state(settings: Arc<Settings>) -> anyhow::Result<(AppState, Caches)> {
    let pool = db::connect(&settings).await?;
    let redis = redis::Client::open(settings.redis_url.expose_secret())?
        .get_connection_manager()
        .await?;
    let principals = Arc::new(PrincipalCache::default());
    let images = Arc::new(ImageCache::new(settings.image_cache_mb));
    let redirects = Arc::new(RedirectCache::default());
    let hosts = crate::domains::hosts::HostMap::load(&pool, &settings.public_base_url).await;
    let caches = Caches::new(vec![
        principals.clone() as Arc<dyn cache::Member>,
        images.clone(),
        redirects.clone(),
        hosts.clone(),
    ]);
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
        renderer: render::actor::Pool::default(),
        store: Arc::new(LocalStore::new(&settings.uploads_dir)),
        bus: Bus::new(caches.clone(), redis, &settings.redis_namespace),
        principals,
        images,
        redirects,
        hosts,
        scans: Arc::new(ScanBuffer::new(settings.scan_buffer_capacity)),
        billing: Arc::new(crate::billing::Billing::from_settings(&settings)?),
        mail: Arc::new(crate::notify::emails::Mailer::new(&settings)?),
        webhooks: Arc::new(crate::notify::webhooks::Webhooks::from_settings(&settings)?),
        sms: crate::notify::sms::Twilio::from_settings(&settings.sms)?
            .map(|t| Arc::new(t) as Arc<dyn crate::notify::sms::SmsProvider>),
        blocklist_file: Arc::new(crate::abuse::blocklist::load_file(
            settings.targets.blocklist_file.as_deref(),
        )?),
        decode_budget: Arc::new(crate::codes::uploads::DecodeBudget::new(
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
///
/// Supervise or exit: every long-running part is watched (see [`Watch`]); the first that fails
/// to start, ends, errs or panics while the process is not shutting down starts the same
/// graceful shutdown, and `run` then fails naming it.
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
    let watch = Watch::new(shutdown.clone());
    let mut running = Running::default();
    if let Err((part, e)) = start(&state, &caches, parts, &watch, &mut running).await {
        watch.fail(part, format!("could not start: {e:#}"));
    }
    if let Some(ready) = ready {
        let _ = ready.send(running.addr);
    }
    shutdown.cancelled().await;
    running.drain().await;
    state.db.close().await;
    match watch.failure() {
        Some(why) => {
            tracing::error!(%why, "stopped because a part failed");
            Err(anyhow::anyhow!(why))
        }
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// The parts a process has started, kept to be drained in order.
#[derive(Default)]
struct Running {
    addr: Option<SocketAddr>,
    server: Option<(actix_web::dev::ServerHandle, JoinHandle<()>)>,
    /// Stopped after the server, so the scans of its last requests are shipped too.
    shipper_stop: CancellationToken,
    /// The scan shipper, the cache invalidation subscriber, the live-event listener and the
    /// queue workers, in that order.
    tasks: Vec<JoinHandle<()>>,
    scheduler: Option<tokio_cron_scheduler::JobScheduler>,
}

impl Running {
    async fn drain(self) {
        if let Some((handle, join)) = self.server {
            handle.stop(true).await;
            let _ = join.await;
        }
        self.shipper_stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(mut s) = self.scheduler
            && let Err(e) = s.shutdown().await
        {
            tracing::error!(error = %e, "scheduler shutdown");
        }
    }
}

/// Starts `parts` one by one under `watch`; the first that cannot start is named in the error
/// (those started before it are in `running`, to be drained).
async fn start(
    state: &AppState,
    caches: &Caches,
    parts: Parts,
    watch: &Watch,
    running: &mut Running,
) -> Result<(), (&'static str, anyhow::Error)> {
    let settings = &state.settings;
    let shutdown = watch.shutdown.clone();
    let redis_client =
        || redis::Client::open(settings.redis_url.expose_secret()).map_err(anyhow::Error::from);
    if parts.http || parts.workers {
        state.renderer.start();
    }
    if parts.http {
        running.tasks.push(tokio::spawn(watch.part(
            "scan shipper",
            scans::ship(
                state.scans.clone(),
                state.queues.clone(),
                running.shipper_stop.clone(),
            ),
        )));
        let client = redis_client().map_err(|e| ("cache invalidation subscriber", e))?;
        running.tasks.push(tokio::spawn(watch.part(
            "cache invalidation subscriber",
            cache::subscribe(
                client,
                settings.redis_namespace.clone(),
                caches.clone(),
                shutdown.clone(),
            ),
        )));
        let client = redis_client().map_err(|e| ("live event listener", e))?;
        running.tasks.push(tokio::spawn(watch.part(
            "live event listener",
            crate::notify::live::listen(
                client,
                settings.redis_namespace.clone(),
                state.live.clone(),
                shutdown.clone(),
            ),
        )));
        let (handle, join, addr) = serve(state).map_err(|e| ("http server", e))?;
        let join = actix_web::rt::spawn(watch.part("http server", async move {
            join.await.map_err(anyhow::Error::from)
        }));
        tracing::info!(addr = ?addr, "serving HTTP");
        running.addr = addr;
        running.server = Some((handle, join));
    }
    if parts.workers {
        let actors = start_actors(state).map_err(|e| ("queue workers", e))?;
        running.tasks.push(tokio::spawn(watch.part(
            "queue workers",
            worker::run(state.clone(), actors, shutdown.clone()),
        )));
    }
    if parts.scheduler {
        let s = Scheduler {
            queues: state.queues.clone(),
            redis: state.redis.clone(),
            namespace: settings.redis_namespace.clone(),
        };
        running.scheduler = Some(s.start().await.map_err(|e| ("scheduler", e))?);
    }
    Ok(())
}

/// Binds the HTTP server and starts it (its future is left to the caller to run).
fn serve(
    state: &AppState,
) -> anyhow::Result<(
    actix_web::dev::ServerHandle,
    actix_web::dev::Server,
    Option<SocketAddr>,
)> {
    let settings = &state.settings;
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
    .shutdown_timeout(settings.shutdown_grace_secs)
    .bind(settings.http_addr)
    .with_context(|| format!("cannot listen on {}", settings.http_addr))?;
    if settings.http_workers > 0 {
        srv = srv.workers(settings.http_workers);
    }
    let addr = srv.addrs().first().copied();
    let server = srv.run();
    Ok((server.handle(), server, addr))
}

/// The supervised actors the queue workers feed.
fn start_actors(state: &AppState) -> anyhow::Result<worker::Actors> {
    let notifier = Notifier::new(state.clone())?;
    let ingestor = Ingestor::new(state.clone())?;
    let meter = UsageMeter::new(state.clone());
    let rollups = Rollups::new(state);
    Ok(worker::Actors {
        notifier: Supervisor::start(move |_| notifier),
        ingestor: Supervisor::start(move |_| ingestor),
        rollups: Supervisor::start(move |_| rollups),
        meter: Supervisor::start(move |_| meter),
    })
}

/// Watches the long-running parts of a process. A process that has lost its HTTP server, its
/// scan shipper or its workers must not go on looking healthy: the first part that ends while
/// the process is not shutting down cancels `shutdown` (so the rest drain as on SIGTERM) and is
/// kept as the reason the process exits non-zero, for an orchestrator to restart it.
#[derive(Clone)]
struct Watch {
    shutdown: CancellationToken,
    failed: Arc<std::sync::Mutex<Option<String>>>,
}

impl Watch {
    fn new(shutdown: CancellationToken) -> Watch {
        Watch {
            shutdown,
            failed: Arc::default(),
        }
    }

    /// `part`, run in a span with its name and reported if it ends early: returning, failing
    /// or panicking.
    fn part<F, T>(&self, name: &'static str, part: F) -> impl Future<Output = ()> + use<F, T>
    where
        F: Future<Output = T>,
        T: Outcome,
    {
        let this = self.clone();
        async move {
            let ended = AssertUnwindSafe(part).catch_unwind().await;
            let why = match ended {
                Ok(outcome) => match (outcome.error(), this.shutdown.is_cancelled()) {
                    (None, true) => return,
                    (Some(e), true) => {
                        tracing::error!(part = name, error = %e, "stopped with an error while shutting down");
                        return;
                    }
                    (None, false) => "ended".to_owned(),
                    (Some(e), false) => e,
                },
                Err(_) => "panicked".to_owned(),
            };
            this.fail(name, why);
        }
        .instrument(tracing::info_span!("part", part = name))
    }

    /// Records the first failure and starts the shutdown.
    fn fail(&self, part: &'static str, why: String) {
        tracing::error!(part, reason = %why, "a long-running part stopped; shutting the process down");
        if let Ok(mut failed) = self.failed.lock() {
            failed.get_or_insert_with(|| format!("{part} stopped: {why}"));
        }
        self.shutdown.cancel();
    }

    fn failure(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }
}

/// How a part's future ends: `()` for loops that only stop when told, a `Result` otherwise.
trait Outcome {
    fn error(self) -> Option<String>;
}

impl Outcome for () {
    fn error(self) -> Option<String> {
        None
    }
}

impl Outcome for anyhow::Result<()> {
    fn error(self) -> Option<String> {
        self.err().map(|e| format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_part_that_ends_early_shuts_the_process_down_and_is_named() {
        let shutdown = CancellationToken::new();
        let watch = Watch::new(shutdown.clone());
        // Ended without being told: that is a failure too.
        watch.part("steady", async {}).await;
        assert!(shutdown.is_cancelled());
        assert_eq!(watch.failure().as_deref(), Some("steady stopped: ended"));
        // The first failure is the reason; later ones (the drain) do not replace it.
        watch
            .part("other", async { Err::<(), _>(anyhow::anyhow!("boom")) })
            .await;
        assert_eq!(watch.failure().as_deref(), Some("steady stopped: ended"));
    }

    #[tokio::test]
    async fn errors_and_panics_are_failures_but_a_requested_stop_is_not() {
        let shutdown = CancellationToken::new();
        let watch = Watch::new(shutdown.clone());
        watch
            .part("panicky", async {
                if true {
                    panic!("a bug");
                }
            })
            .await;
        assert_eq!(
            watch.failure().as_deref(),
            Some("panicky stopped: panicked")
        );

        let shutdown = CancellationToken::new();
        let watch = Watch::new(shutdown.clone());
        shutdown.cancel();
        watch.part("told", async {}).await;
        watch
            .part("told", async { Err::<(), _>(anyhow::anyhow!("late")) })
            .await;
        assert_eq!(watch.failure(), None);

        let shutdown = CancellationToken::new();
        let watch = Watch::new(shutdown.clone());
        watch
            .part("failing", async {
                Err::<(), _>(anyhow::anyhow!("redis gone"))
            })
            .await;
        assert_eq!(
            watch.failure().as_deref(),
            Some("failing stopped: redis gone")
        );
    }
}
