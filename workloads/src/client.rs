//! Client workers, shared by every workload: concurrency, pacing, time limits, and the
//! invocation/completion discipline.
//!
//! A workload supplies one `Client` per worker. Each step records an invocation,
//! performs the operation under the op timeout, and records its completion: `ok`,
//! `fail` for a definite refusal, `info` for anything indeterminate (a timeout, a
//! dropped connection). A worker whose operation ended `info` goes on under a fresh
//! process id, as Jepsen's do: the old process may still have a request in flight.
//!
//! An operation that times out is cancelled where it stands (its future is dropped),
//! so nothing of it happens after its completion is recorded except what it had
//! already sent.
//!
//! While an operation's call runs, the task running it knows the operation's [`OpId`]
//! ([`serving`]): the harness's gateway attributes each charge to the client operation
//! whose call reached it, without asking the system under test. The attribution is
//! task-local: a task the system under test spawns does not inherit it, so a charge
//! made from such a task (or from `settle`) is attributed to no operation.

use crate::recorder::Recorder;
use crate::store::StoreError;
use checkers::history::{F, OpType, Process, Value};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How clients run. Defaults: 8 workers, no rate limit, 10 s, a 5 s timeout per
/// operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Concurrent workers (C).
    pub workers: u32,
    /// The most operations per second, all workers together; unlimited if absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// How long clients run unless cancelled sooner.
    #[serde(with = "humantime_serde")]
    pub time_limit: Duration,
    /// How long one operation may take before it is recorded `info`.
    #[serde(with = "humantime_serde")]
    pub op_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            workers: 8,
            rate: None,
            time_limit: Duration::from_secs(10),
            op_timeout: Duration::from_secs(5),
        }
    }
}

/// Why an operation did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// It certainly did not take effect (recorded `fail`).
    #[error("{0}")]
    Refused(String),
    /// It may or may not have taken effect (recorded `info`).
    #[error("{0}")]
    Indeterminate(String),
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        match e.kind.is_definite() {
            true => OpError::Refused(e.message),
            false => OpError::Indeterminate(e.message),
        }
    }
}

/// The id of a client operation: the index of its invocation in the history, unique
/// in a run, so a system under test can use it as an idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(pub u64);

tokio::task_local! {
    /// The client operation whose call the current task is running.
    static SERVING: OpId;
}

/// The client operation whose call into the system under test the current task is
/// running, if any; `None` outside an operation and in tasks the system spawned.
pub fn serving() -> Option<OpId> {
    SERVING.try_with(|op| *op).ok()
}

/// One worker's behaviour: what it does at each step.
pub(crate) trait Client: Send + 'static {
    /// Performs one operation as `process` through `ctx`, and says how it completed.
    fn step(&mut self, process: u32, ctx: &Ctx) -> impl Future<Output = OpType> + Send;
}

/// What every worker shares: the recorder, the op timeout, and the tallies.
pub(crate) struct Ctx {
    pub recorder: Recorder,
    op_timeout: Duration,
    tallies: [AtomicU64; 3],
}

impl Ctx {
    /// Records the invocation, runs `op` under the op timeout, records the completion
    /// with the value `op` returned (or `args` when it failed) and returns its type.
    pub async fn perform<Fut>(
        &self,
        process: u32,
        f: F,
        args: Value,
        op: impl FnOnce(OpId) -> Fut,
    ) -> OpType
    where
        Fut: Future<Output = Result<Value, OpError>>,
    {
        let process = Process::Client(process);
        let id = self.recorder.invoke(process, f.clone(), args.clone());
        let call = SERVING.scope(OpId(id), op(OpId(id)));
        let (kind, value, error) = match tokio::time::timeout(self.op_timeout, call).await {
            Ok(Ok(value)) => (OpType::Ok, value, None),
            Ok(Err(OpError::Refused(e))) => (OpType::Fail, args, Some(e)),
            Ok(Err(OpError::Indeterminate(e))) => (OpType::Info, args, Some(e)),
            Err(_) => (OpType::Info, args, Some(format!("timed out after {:?}", self.op_timeout))),
        };
        self.recorder.record(process, kind, f, value, error);
        let tally = match kind {
            OpType::Ok => 0,
            OpType::Fail => 1,
            _ => 2,
        };
        self.tallies[tally].fetch_add(1, Ordering::Relaxed);
        kind
    }
}

/// Hands out client process ids, each once: every worker starts under a fresh id, and a
/// worker whose operation ended `info` takes the next one.
#[derive(Clone)]
pub(crate) struct Processes(Arc<AtomicU32>);

impl Processes {
    /// Ids from `first` on.
    pub fn new(first: u32) -> Processes {
        Processes(Arc::new(AtomicU32::new(first)))
    }

    /// An id no process used before.
    pub fn fresh(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// What the clients did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClientSummary {
    /// Operations that completed `ok`.
    pub ok: u64,
    /// Operations that completed `fail`.
    pub fail: u64,
    /// Operations that completed `info`.
    pub info: u64,
    /// How long the clients ran.
    pub elapsed: Duration,
}

impl ClientSummary {
    /// Completed operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        (self.ok + self.fail + self.info) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs one worker per client until the time limit passes or `cancel` fires; each
/// finishes the operation it has in flight.
pub(crate) async fn run<C: Client>(
    clients: Vec<C>,
    config: &ClientConfig,
    recorder: &Recorder,
    processes: &Processes,
    cancel: &CancellationToken,
) -> ClientSummary {
    let started = Instant::now();
    let ctx = Arc::new(Ctx {
        recorder: recorder.clone(),
        op_timeout: config.op_timeout,
        tallies: Default::default(),
    });
    let pacer = Arc::new(Pacer::new(started, config));
    let mut workers = tokio::task::JoinSet::new();
    for client in clients {
        let worker = Worker { client, process: processes.fresh(), processes: processes.clone() };
        workers.spawn(crate::task::carried(worker.run(ctx.clone(), pacer.clone(), cancel.clone())));
    }
    while let Some(done) = workers.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let [ok, fail, info] = ctx.tallies.each_ref().map(|t| t.load(Ordering::Relaxed));
    ClientSummary { ok, fail, info, elapsed: started.elapsed() }
}

/// Runs `client` alone, under a fresh process, until a step completes `ok` or
/// `attempts` steps were made; a step that ended `info` retires its process. Returns
/// the client.
pub(crate) async fn run_until_ok<C: Client>(
    mut client: C,
    attempts: u32,
    op_timeout: Duration,
    recorder: &Recorder,
    processes: &Processes,
) -> C {
    let ctx = Ctx { recorder: recorder.clone(), op_timeout, tallies: Default::default() };
    let mut process = processes.fresh();
    for _ in 0..attempts {
        match client.step(process, &ctx).await {
            OpType::Ok => break,
            OpType::Info => process = processes.fresh(),
            OpType::Fail | OpType::Invoke => {}
        }
    }
    client
}

struct Worker<C> {
    client: C,
    process: u32,
    processes: Processes,
}

impl<C: Client> Worker<C> {
    async fn run(mut self, ctx: Arc<Ctx>, pacer: Arc<Pacer>, cancel: CancellationToken) {
        while pacer.next_slot(&cancel).await {
            if self.client.step(self.process, &ctx).await == OpType::Info {
                self.process = self.processes.fresh();
            }
        }
    }
}

/// Spaces operations to the configured rate and ends the run at its time limit.
struct Pacer {
    deadline: Instant,
    started: Instant,
    interval: Option<Duration>,
    issued: AtomicU64,
}

impl Pacer {
    fn new(started: Instant, config: &ClientConfig) -> Pacer {
        let interval = config.rate.filter(|r| *r > 0.0).map(|r| Duration::from_secs_f64(1.0 / r));
        let deadline = started + config.time_limit;
        Pacer { deadline, started, interval, issued: AtomicU64::new(0) }
    }

    /// Waits for the next operation's turn; false once the run is over.
    async fn next_slot(&self, cancel: &CancellationToken) -> bool {
        let Some(interval) = self.interval else {
            return !cancel.is_cancelled() && Instant::now() < self.deadline;
        };
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let at = self.started + interval.mul_f64(n as f64);
        if at >= self.deadline || cancel.is_cancelled() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep_until(at) => Instant::now() < self.deadline,
            () = cancel.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests;
