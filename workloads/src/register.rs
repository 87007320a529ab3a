//! Jepsen's register workload on Redis: reads, writes and compare-and-sets of small
//! values on independent keys (`faultline:reg:<k>`), recorded as `read`, `write` and
//! `cas` for the `linearizable` checker.
//!
//! - `read`: `GET` on the master, or with `read_from = "replicas"` on one of its
//!   replicas ([`RedisReplica`]); `ok` with the value found (`null`: nothing).
//! - `write`: `SET` on the master.
//! - `cas`: a Lua script on the master, `SET` only if `GET` equals the expected value
//!   (a key holding nothing never does); `ok` when it set the key, `fail` with error
//!   [`MISMATCH`] when the key held something else.
//!
//! Errors are classified as every Redis request's are ([`classify_redis`]
//! (crate::store::classify_redis)): a refusal (`READONLY`, a refused connection) is a
//! `fail`, a timeout or a dropped connection an `info`. The master is followed as
//! [`RedisMaster`] follows it, through Sentinel too.

use crate::WorkloadError;
use crate::client::{
    self as clients, Client, ClientConfig, ClientSummary, Ctx, OpError, Processes,
};
use crate::endpoints::Topology;
use crate::recorder::Recorder;
use crate::store::{RedisMaster, RedisReplica, StoreError};
use checkers::format::Header;
use checkers::history::MISMATCH;
use checkers::history::{F, OpType, RegisterOp, Value};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The compare-and-set: `1` when it set `KEYS[1]` from `ARGV[1]` to `ARGV[2]`, `0` when
/// the key held anything else (`GET` of a missing key is `false` in Lua, never equal).
const CAS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                   redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// Where reads go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadFrom {
    /// The master, as writes do.
    #[default]
    Master,
    /// One of the master's replicas: reads may lag the writes.
    Replicas,
}

/// A register run's settings. Defaults: seed 0, 20 keys under `faultline:reg:`, 8
/// workers at 200 operations a second in all for 10 s (so each key sees about a hundred
/// operations: the checker's search grows with each key's concurrency), values 0 to 4,
/// half reads, a quarter writes, a quarter compare-and-sets, reads from the master, a
/// 1 s Redis timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterConfig {
    /// Seeds every worker's choices.
    pub seed: u64,
    /// How many registers: keys `0..keys`.
    pub keys: u64,
    /// The prefix of each register's Redis key, followed by its number.
    pub prefix: String,
    /// Workers, rate, time limit, op timeout.
    pub clients: ClientConfig,
    /// Values written and compared are `0..values`: few, so compare-and-sets succeed.
    pub values: i64,
    /// The fraction of operations that are reads.
    pub reads: f64,
    /// The fraction that are writes; the rest are compare-and-sets.
    pub writes: f64,
    /// Where reads go.
    pub read_from: ReadFrom,
    /// Longest wait for a Redis connection or reply.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
}

impl Default for RegisterConfig {
    fn default() -> RegisterConfig {
        RegisterConfig {
            seed: 0,
            keys: 20,
            prefix: "faultline:reg:".into(),
            clients: ClientConfig { rate: Some(200.0), ..ClientConfig::default() },
            values: 5,
            reads: 0.5,
            writes: 0.25,
            read_from: ReadFrom::Master,
            redis_timeout: Duration::from_secs(1),
        }
    }
}

impl RegisterConfig {
    /// The history header of a run under these settings: the workload, seed, number of
    /// keys and where reads went.
    pub fn header(&self) -> Header {
        let mut meta = serde_json::Map::new();
        meta.insert("workload".into(), "register".into());
        meta.insert("seed".into(), self.seed.into());
        meta.insert("keys".into(), self.keys.into());
        let read_from = match self.read_from {
            ReadFrom::Master => "master",
            ReadFrom::Replicas => "replicas",
        };
        meta.insert("read_from".into(), read_from.into());
        Header::new(meta)
    }

    /// Refuses settings the workload cannot run with.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let fraction = |f: f64| (0.0..=1.0).contains(&f);
        let ok = self.keys >= 1
            && self.values >= 1
            && fraction(self.reads)
            && fraction(self.writes)
            && self.reads + self.writes <= 1.0
            && self.clients.workers >= 1;
        match ok {
            true => Ok(()),
            false => Err(WorkloadError::Config(
                "register: keys, values and workers must be at least 1, reads and writes \
                 fractions that sum to at most 1"
                    .into(),
            )),
        }
    }

    fn key(&self, k: u64) -> String {
        format!("{}{k}", self.prefix)
    }
}

/// A register run between its phases.
pub struct RegisterRun {
    config: RegisterConfig,
    recorder: Recorder,
    master: RedisMaster,
    replica: RedisReplica,
    processes: Processes,
    /// Workers started so far, across calls of `run`: each draws its own stream.
    workers: AtomicU32,
}

impl RegisterRun {
    /// Resets every register to nothing.
    pub async fn setup(
        config: RegisterConfig,
        topology: Topology,
        recorder: Recorder,
    ) -> Result<RegisterRun, WorkloadError> {
        config.validate()?;
        let master = RedisMaster::new(topology.clone(), config.redis_timeout);
        let replica = RedisReplica::new(topology, config.redis_timeout);
        let mut del = redis::cmd("DEL");
        (0..config.keys).for_each(|k| {
            del.arg(config.key(k));
        });
        let _: i64 = master.query(&del).await?;
        let (processes, workers) = (Processes::new(0), AtomicU32::new(0));
        Ok(RegisterRun { config, recorder, master, replica, processes, workers })
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
                RegisterClient {
                    rng,
                    master: self.master.clone(),
                    replica: self.replica.clone(),
                    config: self.config.clone(),
                }
            })
            .collect();
        clients::run(clients, &self.config.clients, &self.recorder, &self.processes, cancel).await
    }
}

struct RegisterClient {
    rng: ChaCha8Rng,
    master: RedisMaster,
    replica: RedisReplica,
    config: RegisterConfig,
}

/// One register operation, drawn.
enum Draw {
    Read,
    Write(i64),
    Cas(i64, i64),
}

impl RegisterClient {
    fn draw(&mut self) -> (u64, Draw) {
        let key = self.rng.random_range(0..self.config.keys);
        let roll: f64 = self.rng.random();
        let values = 0..self.config.values;
        let draw = if roll < self.config.reads {
            Draw::Read
        } else if roll < self.config.reads + self.config.writes {
            Draw::Write(self.rng.random_range(values))
        } else {
            Draw::Cas(self.rng.random_range(values.clone()), self.rng.random_range(values))
        };
        (key, draw)
    }

    async fn read(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let get = redis::cmd("GET").arg(key).clone();
        match self.config.read_from {
            ReadFrom::Master => self.master.query(&get).await,
            ReadFrom::Replicas => self.replica.query(&get).await,
        }
    }
}

impl Client for RegisterClient {
    async fn step(&mut self, process: u32, ctx: &Ctx) -> OpType {
        let (k, draw) = self.draw();
        let this = &*self;
        let key = &this.config.key(k);
        let op = |value, cas| Value::Register(RegisterOp { key: k, value, cas });
        match draw {
            Draw::Read => {
                ctx.perform(process, F::Read, op(None, None), |_| async move {
                    Ok(op(this.read(key).await?, None))
                })
                .await
            }
            Draw::Write(v) => {
                let (master, args) = (&this.master, op(Some(v), None));
                ctx.perform(process, F::Write, args.clone(), |_| async move {
                    let () = master.query(redis::cmd("SET").arg(key).arg(v)).await?;
                    Ok(args)
                })
                .await
            }
            Draw::Cas(expect, new) => {
                let (master, args) = (&this.master, op(None, Some([expect, new])));
                ctx.perform(process, F::Cas, args.clone(), |_| async move {
                    let script = redis::Script::new(CAS);
                    let set: i64 = master.eval(script.key(key).arg(expect).arg(new)).await?;
                    match set {
                        1 => Ok(args),
                        _ => Err(OpError::Refused(MISMATCH.into())),
                    }
                })
                .await
            }
        }
    }
}
