//! The actor pattern every background capability follows.
//!
//! - **Owned state, fresh clients.** An actor owns its clients (SMTP transport, ClickHouse
//!   inserter, …) and builds them in a constructor that `Supervised::restarting` calls again, so a
//!   restarted actor never reuses a client that may be what broke.
//! - **Supervised.** Actors are started with [`actix::Supervisor`]; when an actor stops (it calls
//!   `ctx.stop()` on an unrecoverable client error, see [`stop_on_lost_connection`]) the supervisor restarts it in place and the
//!   same `Addr` keeps working. A panic is *not* restarted by actix, so actors never panic:
//!   `unwrap`/`expect` are denied crate-wide and errors are returned to the caller.
//! - **Bounded mailboxes.** `started` sets the mailbox capacity to [`MAILBOX_CAPACITY`]; producers
//!   use `Addr::send`, which waits when the mailbox is full, so back-pressure reaches the queue
//!   worker instead of memory growing without bound.
//! - **Fed by the queue.** apalis workers receive jobs and `send` them to the actor, awaiting the
//!   result: a job is acknowledged only after the actor has done the work, and a failure is retried
//!   by the queue.
//! - **Drained on shutdown.** On SIGTERM the apalis monitor stops fetching and waits for in-flight
//!   jobs, which in turn wait on the actors' replies; only then is the actor system stopped.

/// Messages an actor buffers before `send` starts waiting.
pub const MAILBOX_CAPACITY: usize = 256;

/// Stops the actor when `result` failed because its ClickHouse client lost its connection: the
/// supervisor then restarts it, and `Supervised::restarting` builds a fresh client, rather than
/// retrying through one that may be what broke. The messages in flight fail (their jobs are
/// retried by the queue, and every handler is idempotent); those waiting in the mailbox are
/// handled by the restarted actor.
pub fn stop_on_lost_connection<T>(ctx: &mut impl actix::ActorContext, result: &anyhow::Result<T>) {
    let lost = result.as_ref().err().is_some_and(|e| {
        e.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<clickhouse::error::Error>(),
                Some(clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut)
            )
        })
    });
    if lost {
        ctx.stop();
    }
}
