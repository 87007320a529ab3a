//! Jepsen's counter workload on Redis: `INCRBY` of small positive deltas and `GET`
//! reads of one key, recorded as `add` and `read` for the classic counter checker.

use crate::WorkloadError;
use crate::client::{self as clients, Client, ClientConfig, ClientSummary, Ctx, Processes};
use crate::endpoints::Topology;
use crate::recorder::Recorder;
use crate::store::RedisMaster;
use checkers::format::Header;
use checkers::history::{F, OpType, Value};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A counter run's settings. Defaults: seed 0, key `faultline:counter`, the default
/// [`ClientConfig`], deltas of 1 to 5, 10% reads, a 1 s Redis timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CounterConfig {
    /// Seeds every worker's choices.
    pub seed: u64,
    /// The counter's key.
    pub key: String,
    /// Workers, rate, time limit, op timeout.
    pub clients: ClientConfig,
    /// The largest delta of one add.
    pub max_delta: i64,
    /// The fraction of operations that are reads.
    pub reads: f64,
    /// Longest wait for a Redis connection or reply.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
}

impl Default for CounterConfig {
    fn default() -> CounterConfig {
        CounterConfig {
            seed: 0,
            key: "faultline:counter".into(),
            clients: ClientConfig::default(),
            max_delta: 5,
            reads: 0.1,
            redis_timeout: Duration::from_secs(1),
        }
    }
}

impl CounterConfig {
    /// The history header of a run under these settings.
    pub fn header(&self) -> Header {
        let mut meta = serde_json::Map::new();
        meta.insert("workload".into(), "counter".into());
        meta.insert("seed".into(), self.seed.into());
        Header::new(meta)
    }
}

/// A counter run between its phases.
pub struct CounterRun {
    config: CounterConfig,
    recorder: Recorder,
    redis: RedisMaster,
    processes: Processes,
    /// Workers started so far, across calls of `run`: each draws its own stream.
    workers: AtomicU32,
}

impl CounterRun {
    /// Resets the counter to nothing.
    pub async fn setup(
        config: CounterConfig,
        topology: Topology,
        recorder: Recorder,
    ) -> Result<CounterRun, WorkloadError> {
        if config.max_delta < 1
            || !(0.0..=1.0).contains(&config.reads)
            || config.clients.workers == 0
        {
            return Err(WorkloadError::Config(
                "counter: max_delta must be at least 1, reads a fraction, workers at least 1"
                    .into(),
            ));
        }
        let store = RedisMaster::new(topology, config.redis_timeout);
        let () = store.query(redis::cmd("DEL").arg(&config.key)).await?;
        let (processes, workers) = (Processes::new(0), AtomicU32::new(0));
        Ok(CounterRun { config, recorder, redis: store, processes, workers })
    }

    /// Runs client workers until the time limit passes or `cancel` fires; another call
    /// runs new workers, drawing new operations.
    pub async fn run(&self, cancel: &CancellationToken) -> ClientSummary {
        let workers = self.config.clients.workers;
        let first = self.workers.fetch_add(workers, Ordering::Relaxed);
        let clients = (first..first + workers)
            .map(|worker| {
                let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
                rng.set_stream(u64::from(worker));
                CounterClient { rng, redis: self.redis.clone(), config: self.config.clone() }
            })
            .collect();
        clients::run(clients, &self.config.clients, &self.recorder, &self.processes, cancel).await
    }
}

struct CounterClient {
    rng: ChaCha8Rng,
    redis: RedisMaster,
    config: CounterConfig,
}

impl Client for CounterClient {
    async fn step(&mut self, process: u32, ctx: &Ctx) -> OpType {
        let (store, key) = (&self.redis, &self.config.key);
        if self.rng.random_bool(self.config.reads) {
            ctx.perform(process, F::Read, Value::Nil, |_| async move {
                let value: Option<i64> = store.query(redis::cmd("GET").arg(key)).await?;
                Ok(Value::Int(value.unwrap_or(0)))
            })
            .await
        } else {
            let delta = self.rng.random_range(1..=self.config.max_delta);
            ctx.perform(process, F::Add, Value::Int(delta), |_| async move {
                let _: i64 = store.query(redis::cmd("INCRBY").arg(key).arg(delta)).await?;
                Ok(Value::Int(delta))
            })
            .await
        }
    }
}
