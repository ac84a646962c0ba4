//! The render pool: `SyncArbiter` runs one `Renderer` per core on its own OS thread, so rendering
//! never occupies the HTTP or async worker threads. A renderer that stops is replaced by the
//! arbiter's factory; a panic inside a render is caught and answered as an error, so one bad
//! input cannot take a pool thread down.

use std::panic::{AssertUnwindSafe, catch_unwind};

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

/// Starts the pool with one renderer per available core.
pub fn start_pool() -> Addr<Renderer> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    SyncArbiter::start(threads, || Renderer)
}
