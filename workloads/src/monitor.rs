//! The harness's monitor: its own look at the balance store, the ground truth the
//! fail-safe checker judges charges against.
//!
//! Every [`interval`](MonitorConfig::interval) it probes the current Redis master,
//! following the topology as the system under test does, on its own connection:
//!
//! 1. a write (`SET` of a harness key): `healthy`, or `read-only` (`READONLY`),
//!    `loading` (`LOADING`), `unreachable` (refused, timed out, dropped), `error`;
//! 2. an `MGET` of every account's balance key (the keys the system under test names):
//!    which balances went missing and which came back since the previous probe.
//!
//! A node that refuses writes may still serve reads (a read-only replica does), so the
//! read is made whatever the write said.
//!
//! Each probe is an operation, process `monitor`, f `probe`: an invocation (value null)
//! when it starts and an `ok` completion carrying the [`Probe`] when it ends, so a
//! checker knows the interval the observation was made over. A probe that takes longer
//! than three timeouts (a write and reads that each hang) is completed `unreachable`.
//! `missing` and `restored` are relative to the previous completed probe that could read
//! the keys. One last probe is taken when the monitor stops.

use crate::endpoints::Topology;
use crate::recorder::Recorder;
use crate::store::{StoreError, classify_redis};
use checkers::history::{AccountId, F, OpType, Probe, Process, StoreStatus, Value};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How the monitor probes. Defaults: every 100 ms, with 1 s timeouts: as long as the
/// default Redis timeout of the system under test, so the monitor never calls
/// unreachable a store that system could still use (a slow probe on a loaded machine
/// would otherwise look like an outage).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Time between two probes.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Longest wait for a connection or a reply.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for MonitorConfig {
    fn default() -> MonitorConfig {
        MonitorConfig { interval: Duration::from_millis(100), timeout: Duration::from_secs(1) }
    }
}

/// The harness key the monitor writes.
const PROBE_KEY: &str = "faultline:monitor";
/// The longest a whole probe may take, in timeouts: its write and reads each get one.
const PROBE_TIMEOUTS: u32 = 3;
/// Keys read in one `MGET`.
const CHUNK: usize = 500;

/// A running monitor: a task on the tokio runtime [`Monitor::start`] was called in,
/// which it needs (it panics outside one).
pub struct Monitor {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Starts probing; `watched` pairs each account with its balance key.
    pub fn start(
        recorder: Recorder,
        topology: Topology,
        watched: Vec<(AccountId, String)>,
        config: MonitorConfig,
    ) -> Monitor {
        let stop = CancellationToken::new();
        let prober = Prober {
            topology,
            watched,
            timeout: config.timeout,
            conn: None,
            missing: BTreeSet::new(),
        };
        let task = tokio::spawn(prober.run(recorder, config.interval, stop.clone()));
        Monitor { stop, task }
    }

    /// Takes one last probe and stops.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Err(e) = (&mut self.task).await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

impl Drop for Monitor {
    /// A monitor dropped without [`Monitor::stop`] (a failed run) stops probing too.
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Prober {
    topology: Topology,
    watched: Vec<(AccountId, String)>,
    timeout: Duration,
    conn: Option<(SocketAddr, MultiplexedConnection)>,
    /// Accounts whose balance the previous probes found missing.
    missing: BTreeSet<AccountId>,
}

impl Prober {
    async fn run(mut self, recorder: Recorder, interval: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = ticks.tick() => false,
                () = stop.cancelled() => true,
            };
            recorder.invoke(Process::Monitor, F::Probe, Value::Nil);
            let probe = self.timed_probe().await;
            recorder.record(Process::Monitor, OpType::Ok, F::Probe, Value::Probe(probe), None);
            if stopping {
                return;
            }
        }
    }

    /// A probe, or `unreachable` when it took too long; a probe cut short changes
    /// nothing of what the previous probes saw missing.
    async fn timed_probe(&mut self) -> Probe {
        let limit = self.timeout * PROBE_TIMEOUTS;
        match tokio::time::timeout(limit, self.probe()).await {
            Ok(probe) => probe,
            Err(_) => {
                self.conn = None;
                Probe { store: StoreStatus::Unreachable, missing: Vec::new(), restored: Vec::new() }
            }
        }
    }

    /// Probes the current master; when the topology names another master by the time
    /// the probe is done (a failover raced it), probes again, so a recorded probe never
    /// describes a node clients had already left. Only the probe kept moves what the
    /// monitor saw missing.
    async fn probe(&mut self) -> Probe {
        loop {
            let addr = self.topology.borrow().redis_master;
            let (store, present) = self.probe_once().await;
            if self.topology.borrow().redis_master == addr {
                let (missing, restored) = present.map(|p| self.deltas(&p)).unwrap_or_default();
                return Probe { store, missing, restored };
            }
        }
    }

    /// The store's status, and whether each watched key exists if they could be read.
    async fn probe_once(&mut self) -> (StoreStatus, Option<Vec<bool>>) {
        let mut conn = match self.connection().await {
            Ok(conn) => conn,
            Err(e) => return (e.kind.status(), None),
        };
        let write = redis::cmd("SET").arg(PROBE_KEY).arg(1).query_async::<()>(&mut conn).await;
        let mut store =
            write.map_or_else(|e| classify_redis(e).kind.status(), |()| StoreStatus::Healthy);
        let present = match self.present(&mut conn).await {
            Ok(present) => Some(present),
            Err(e) => {
                if store == StoreStatus::Healthy {
                    store = e.kind.status();
                }
                None
            }
        };
        if store == StoreStatus::Unreachable {
            self.conn = None;
        }
        (store, present)
    }

    /// A connection to the current master, made anew when the master moved.
    async fn connection(&mut self) -> Result<MultiplexedConnection, StoreError> {
        let addr = self.topology.borrow().redis_master;
        if let Some((at, conn)) = &self.conn
            && *at == addr
        {
            return Ok(conn.clone());
        }
        let client = redis::Client::open(format!("redis://{addr}")).map_err(classify_redis)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(classify_redis)?;
        self.conn = Some((addr, conn.clone()));
        Ok(conn)
    }

    /// Whether each watched balance key exists.
    async fn present(&self, conn: &mut MultiplexedConnection) -> Result<Vec<bool>, StoreError> {
        let mut present = Vec::with_capacity(self.watched.len());
        for chunk in self.watched.chunks(CHUNK) {
            let keys: Vec<&str> = chunk.iter().map(|(_, key)| key.as_str()).collect();
            let values: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(keys).query_async(conn).await.map_err(classify_redis)?;
            present.extend(values.iter().map(Option::is_some));
        }
        Ok(present)
    }

    /// The accounts that went missing and came back since the previous probe.
    fn deltas(&mut self, present: &[bool]) -> (Vec<AccountId>, Vec<AccountId>) {
        let (mut missing, mut restored) = (Vec::new(), Vec::new());
        for ((account, _), &here) in self.watched.iter().zip(present) {
            match (here, self.missing.contains(account)) {
                (false, false) => {
                    self.missing.insert(*account);
                    missing.push(*account);
                }
                (true, true) => {
                    self.missing.remove(account);
                    restored.push(*account);
                }
                _ => {}
            }
        }
        (missing, restored)
    }
}

#[cfg(test)]
mod tests;
