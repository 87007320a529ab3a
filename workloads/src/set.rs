//! Jepsen's set workload on Redis: `SADD` of unique integers to one key during the run,
//! then a final `SMEMBERS`, recorded as `add` and `read` for the classic set-full
//! checker.

use crate::WorkloadError;
use crate::client::{self as clients, Client, ClientConfig, ClientSummary, Ctx, Processes};
use crate::endpoints::Topology;
use crate::recorder::Recorder;
use crate::store::RedisMaster;
use checkers::format::Header;
use checkers::history::{F, OpType, Value};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A set run's settings. Defaults: key `faultline:set`, the default [`ClientConfig`], a
/// 1 s Redis timeout, up to 5 attempts at the final read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SetConfig {
    /// The set's key.
    pub key: String,
    /// Workers, rate, time limit, op timeout.
    pub clients: ClientConfig,
    /// Longest wait for a Redis connection or reply.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// How many times the final read is tried until it succeeds.
    pub final_read_attempts: u32,
}

impl Default for SetConfig {
    fn default() -> SetConfig {
        SetConfig {
            key: "faultline:set".into(),
            clients: ClientConfig::default(),
            redis_timeout: Duration::from_secs(1),
            final_read_attempts: 5,
        }
    }
}

impl SetConfig {
    /// The history header of a run under these settings.
    pub fn header(&self) -> Header {
        let mut meta = serde_json::Map::new();
        meta.insert("workload".into(), "set".into());
        Header::new(meta)
    }
}

/// A set run between its phases.
pub struct SetRun {
    config: SetConfig,
    recorder: Recorder,
    redis: RedisMaster,
    processes: Processes,
    next: Arc<AtomicI64>,
}

impl SetRun {
    /// Empties the set.
    pub async fn setup(
        config: SetConfig,
        topology: Topology,
        recorder: Recorder,
    ) -> Result<SetRun, WorkloadError> {
        if config.clients.workers == 0 || config.final_read_attempts == 0 {
            return Err(WorkloadError::Config(
                "set: workers and final_read_attempts must be at least 1".into(),
            ));
        }
        let store = RedisMaster::new(topology, config.redis_timeout);
        let () = store.query(redis::cmd("DEL").arg(&config.key)).await?;
        let next = Arc::new(AtomicI64::new(0));
        Ok(SetRun { config, recorder, redis: store, processes: Processes::new(0), next })
    }

    /// Runs client workers, each adding fresh elements, until the time limit passes or
    /// `cancel` fires.
    pub async fn run(&self, cancel: &CancellationToken) -> ClientSummary {
        let clients = (0..self.config.clients.workers)
            .map(|_| SetClient {
                redis: self.redis.clone(),
                key: self.config.key.clone(),
                next: self.next.clone(),
            })
            .collect();
        clients::run(clients, &self.config.clients, &self.recorder, &self.processes, cancel).await
    }

    /// After a `quiet` period, reads the whole set, retrying a failed read under a fresh
    /// process; returns the elements of the read that succeeded.
    pub async fn finish(self, quiet: Duration) -> Option<Vec<i64>> {
        tokio::time::sleep(quiet).await;
        let reader = FinalRead { redis: self.redis, key: self.config.key, read: None };
        let (attempts, timeout) = (self.config.final_read_attempts, self.config.clients.op_timeout);
        clients::run_until_ok(reader, attempts, timeout, &self.recorder, &self.processes).await.read
    }
}

struct SetClient {
    redis: RedisMaster,
    key: String,
    next: Arc<AtomicI64>,
}

impl Client for SetClient {
    async fn step(&mut self, process: u32, ctx: &Ctx) -> OpType {
        let element = self.next.fetch_add(1, Ordering::Relaxed);
        let (store, key) = (&self.redis, &self.key);
        ctx.perform(process, F::Add, Value::Int(element), |_| async move {
            let _: i64 = store.query(redis::cmd("SADD").arg(key).arg(element)).await?;
            Ok(Value::Int(element))
        })
        .await
    }
}

/// The final read; keeps what it read.
struct FinalRead {
    redis: RedisMaster,
    key: String,
    read: Option<Vec<i64>>,
}

impl Client for FinalRead {
    async fn step(&mut self, process: u32, ctx: &Ctx) -> OpType {
        let (store, key) = (&self.redis, &self.key);
        let mut read = None;
        let kind = ctx
            .perform(process, F::Read, Value::Nil, |_| async {
                let mut members: Vec<i64> = store.query(redis::cmd("SMEMBERS").arg(key)).await?;
                members.sort_unstable();
                read = Some(members.clone());
                Ok(Value::List(members))
            })
            .await;
        if kind == OpType::Ok {
            self.read = read;
        }
        kind
    }
}
