//! Tasks a run spawns, carrying the run with them.
//!
//! A run's log lines reach its own `faultline.log` because they are emitted inside the
//! run's `tracing` span (faultline's `logging`). `tokio::spawn` starts a task outside
//! its caller's span, and outside a subscriber the caller scoped rather than installed
//! globally: what the task logs would reach no run's log. [`spawn`] and [`carried`]
//! carry both. The harness's own tasks (client workers, the sentinel watch, the
//! gateway's HTTP face) are spawned this way; a billing system that spawns tasks of its
//! own does the same to have their lines in the run's log.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let span = tracing::info_span!("run");
//! let task = span.in_scope(|| workloads::task::spawn(async { tracing::info!("logged in the run") }));
//! task.await.unwrap();
//! # }
//! ```

use std::future::Future;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

/// `future`, polled inside the span and the subscriber current where this is called.
pub fn carried<F: Future>(future: F) -> impl Future<Output = F::Output> {
    future.in_current_span().with_current_subscriber()
}

/// Spawns `future` on the current tokio runtime, inside the caller's span and
/// subscriber ([`carried`]). Like `tokio::spawn`, it needs a runtime: it panics when
/// called outside one.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(carried(future))
}
