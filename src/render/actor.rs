//! The render pool: `SyncArbiter` runs one `Renderer` per core on its own OS thread, so rendering
//! never occupies the HTTP or async worker threads. A renderer that stops is replaced by the
//! arbiter's factory; a panic inside a render is caught and answered as an error, so one bad
//! input cannot take a pool thread down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use actix::{Actor, Addr, Handler, Message, SyncArbiter, SyncContext};
use bytes::Bytes;

use super::{Matrix, RenderError, Spec, render};
use crate::domain::design::Ec;

pub struct Renderer;

impl Actor for Renderer {
    type Context = SyncContext<Self>;
}

/// Render one code.
#[derive(Message)]
#[rtype(result = "Result<Bytes, RenderError>")]
pub struct Render(pub Spec);

/// Check that a payload fits in a code at this error correction, without drawing it.
#[derive(Message)]
#[rtype(result = "Result<(), RenderError>")]
pub struct Fits(pub String, pub Ec);

fn guarded<T>(f: impl FnOnce() -> Result<T, RenderError>) -> Result<T, RenderError> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(RenderError::Failed("renderer panicked".into())))
}

impl Handler<Render> for Renderer {
    type Result = Result<Bytes, RenderError>;

    fn handle(&mut self, Render(spec): Render, _: &mut SyncContext<Self>) -> Self::Result {
        let started = std::time::Instant::now();
        let out = guarded(|| render(&spec));
        metrics::histogram!("render_seconds", "format" => spec.format.extension())
            .record(started.elapsed().as_secs_f64());
        out
    }
}

impl Handler<Fits> for Renderer {
    type Result = Result<(), RenderError>;

    fn handle(&mut self, Fits(payload, ec): Fits, _: &mut SyncContext<Self>) -> Self::Result {
        guarded(|| Matrix::encode(&payload, ec).map(|_| ()))
    }
}

/// The render pool of a process, started by the parts that render (HTTP and workers) and never
/// by a process that only schedules: its threads would sit idle.
#[derive(Clone, Default)]
pub struct Pool(Arc<OnceLock<Addr<Renderer>>>);

impl Pool {
    /// Starts the pool, one renderer per available core (once; later calls do nothing). Needs
    /// a running actix System on the calling thread.
    pub fn start(&self) {
        self.0.get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            SyncArbiter::start(threads, || Renderer)
        });
    }

    /// Asks the pool; a process without one, or a pool that went away, is a render failure.
    pub async fn send<M, T>(&self, msg: M) -> Result<T, RenderError>
    where
        M: Message<Result = Result<T, RenderError>> + Send + 'static,
        Renderer: Handler<M>,
        T: Send + 'static,
    {
        let addr = self
            .0
            .get()
            .ok_or_else(|| RenderError::Failed("this process has no render pool".into()))?;
        addr.send(msg)
            .await
            .map_err(|e| RenderError::Failed(e.to_string()))?
    }
}
