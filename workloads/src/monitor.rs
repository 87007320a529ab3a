//! The harness's monitor: its own look at the balance store, the ground truth the
//! fail-safe checker judges charges against.
//!
//! The balance store is the one the system's [`Layout`] names, probed every
//! [`interval`](MonitorConfig::interval) on the monitor's own connection, following
//! the topology as the system under test does:
//!
//! - **Redis**, when the layout keeps balances under a Redis key: the current
//!   master, with a write (`SET` of a harness key): `healthy`, or `read-only`
//!   (`READONLY`), `loading` (`LOADING`), `unreachable` (refused, timed out, dropped),
//!   `error`; then an `MGET` of every account's balance key: which balances went
//!   missing and which came back since the previous probe. A node that refuses writes
//!   may still serve reads (a read-only replica does), so the read is made whatever the
//!   write said. A probe that takes longer than three timeouts (a write and reads that
//!   each hang) is completed `unreachable`.
//! - **the ledger**, when the layout keeps no balance apart from it: the layout's
//!   `ledger_balance` query for every account on Postgres, its errors classified as
//!   the store module classifies them ([`ErrorKind::status`](crate::store::ErrorKind::status)):
//!   `healthy` when it answers (an account without a row is missing), else
//!   `unreachable` (timed out, dropped, no session) or `error` (any other refusal).
//!   The ledger is not written: a Postgres node that answers takes writes, as the
//!   cluster runs no standby. The probe keeps its connection between probes, as a
//!   system's pool does, so a Postgres shutting down smartly (`SIGTERM`: it refuses
//!   new sessions and serves open ones until they end) looks as healthy to the
//!   monitor as to the system. When the probe gets no session (the pool retries
//!   Postgres's refusals until its timeout and reports only that), one connection
//!   made directly says why: refused or silent, nobody serves any session
//!   (`unreachable`); Postgres refusing new sessions (`57P03`, starting up or
//!   shutting down; `53300`, too many connections), or answering after all, and the
//!   system's open sessions may still be served: the monitor cannot tell (below). The
//!   probe is bounded by its own timeouts (the wait for a connection within one, the
//!   direct connection within one more, the query within one and half a second) and
//!   never cut short, so its connection is never dropped mid-request.
//!
//! Each probe is an operation, process `monitor`, f `probe`: an invocation (value null)
//! when it starts and an `ok` completion carrying the [`Probe`] when it ends, so a
//! checker knows the interval the observation was made over; or, when the monitor
//! could not tell, an `info` completion without a value, its `error` saying why (the
//! fail-safe checker then judges no capture across it). `missing` and `restored`
//! are relative to the previous completed probe that could read the balances. One last
//! probe is taken when the monitor stops.

mod ledger_probe;
mod redis_probe;

use crate::endpoints::Topology;
use crate::recorder::Recorder;
use crate::sut::Layout;
use checkers::history::{AccountId, F, OpType, Probe, Process, StoreStatus, Value};
use ledger_probe::LedgerProbe;
use redis_probe::RedisProbe;
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

/// A running monitor: a task on the tokio runtime [`Monitor::start`] was called in,
/// which it needs (it panics outside one).
pub struct Monitor {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Starts probing the balance store `layout` names for `accounts`: the Redis
    /// master, or the ledger when the layout keeps no balance in Redis.
    pub fn start(
        recorder: Recorder,
        topology: Topology,
        layout: &Layout,
        accounts: &[AccountId],
        config: MonitorConfig,
    ) -> Monitor {
        let stop = CancellationToken::new();
        let store = if layout.balance_key.is_some() {
            let keys = accounts.iter().filter_map(|&a| layout.balance_key(a)).collect();
            Store::Redis(RedisProbe::new(keys, config.timeout))
        } else {
            Store::Ledger(LedgerProbe::new(&topology, layout.clone(), config.timeout))
        };
        let prober =
            Prober { topology, accounts: accounts.to_vec(), store, missing: BTreeSet::new() };
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

/// What one look at the balance store found: its status and, when it read them,
/// whether each account's balance is there; or why it could not tell.
type Look = Result<(StoreStatus, Option<Vec<bool>>), String>;

/// The balance store a monitor probes.
enum Store {
    /// The Redis master, with every account's balance key.
    Redis(RedisProbe),
    /// The ledger, through the layout's balance query.
    Ledger(LedgerProbe),
}

struct Prober {
    topology: Topology,
    accounts: Vec<AccountId>,
    store: Store,
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
            let (kind, value, why) = match self.probe().await {
                Ok(probe) => (OpType::Ok, Value::Probe(probe), None),
                Err(why) => (OpType::Info, Value::Nil, Some(why)),
            };
            recorder.record(Process::Monitor, kind, F::Probe, value, why);
            if stopping {
                return;
            }
        }
    }

    /// Probes the store where the topology has it; when the topology names another
    /// address by the time the probe is done (a failover or a restart raced it), probes
    /// again, so a recorded probe never describes a node clients had already left. Only
    /// the probe kept moves what the monitor saw missing. `Err` says why the monitor
    /// could not tell.
    async fn probe(&mut self) -> Result<Probe, String> {
        loop {
            let addr = self.address();
            let look = match &mut self.store {
                Store::Redis(redis) => Ok(redis.probe(addr).await),
                Store::Ledger(ledger) => ledger.probe(&self.accounts).await,
            };
            if self.address() == addr {
                let (store, present) = look?;
                let (missing, restored) = present.map(|p| self.deltas(&p)).unwrap_or_default();
                return Ok(Probe { store, missing, restored });
            }
        }
    }

    /// Where the store is now.
    fn address(&self) -> Option<SocketAddr> {
        let endpoints = self.topology.borrow();
        match self.store {
            Store::Redis(_) => Some(endpoints.redis_master),
            Store::Ledger(_) => endpoints.postgres.as_ref().map(|p| p.addr),
        }
    }

    /// The accounts that went missing and came back since the previous probe, from
    /// whether each account's balance is present, in order.
    fn deltas(&mut self, present: &[bool]) -> (Vec<AccountId>, Vec<AccountId>) {
        let (mut missing, mut restored) = (Vec::new(), Vec::new());
        for (account, &here) in self.accounts.iter().zip(present) {
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
