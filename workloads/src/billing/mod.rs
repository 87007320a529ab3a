//! The billing workload: many small usage debits, some payments, balance reads, over N
//! accounts with auto-recharge, against a system under test.
//!
//! A run goes through three phases, so the runner can fault the cluster in between:
//!
//! 1. [`BillingRun::setup`]: builds the system under test with the harness's
//!    [`Gateway`], records the shape of the layout it declares (`layout`), creates the
//!    schema, seeds every account in its stores, records one `open` per account and
//!    starts the [`Monitor`] on the balance store the layout names.
//! 2. [`BillingRun::run`]: client workers until the time limit or cancellation (may be
//!    called again for another stretch).
//! 3. [`BillingRun::recover`], once faults are healed: records the `recovery` phase and
//!    runs new client workers for a period, to show the system works again.
//! 4. [`BillingRun::finish`]: a quiet period, `settle` (recorded as a harness operation),
//!    the last probe, then one `final` per account, read by the harness itself
//!    ([`crate::truth`]) through the system's [`crate::sut::Layout`].
//!
//! Payments race debits and reads on the same account, as they would in production;
//! [`BillingConfig::exclusive_payments`] serialises them per account instead.
//!
//! [`BillingConfig::reach`] states what the workload is meant to reach; it goes into the
//! history's header (`"reach"`), and a run that reached less is judged unknown.
//!
//! ```toml
//! seed = 7
//! accounts = 100
//! threshold = 1000
//! recharge = 5000
//! clients = { workers = 8, time_limit = "10s", op_timeout = "5s" }
//! mix = { debit = 0.90, payment = 0.02, read = 0.08 }
//! debit = { min = 1, max = 10 }
//! payment = { min = 500, max = 2000 }
//! opening = { min = 1000, max = 6000 }
//! gateway = { deactivate_after = 3, window = "60s", declining_cards = 0.02 }
//! monitor = { interval = "100ms", timeout = "1s" }
//! stores = { redis_timeout = "1s", postgres_timeout = "2s", pool_size = 16 }
//! settle_timeout = "30s"
//! exclusive_payments = false
//! reach = { charges = 20, contended = 5, charges_in_faults = 3 }   # absent by default
//! ```
//!
//! A contended mix, where recharges happen every few operations and several workers
//! decide on one account at once: few accounts, debits large against the gap between
//! threshold and recharge, and a gateway that does not deactivate cards on the way:
//!
//! ```toml
//! accounts = 3
//! threshold = 1000
//! recharge = 1000
//! opening = { min = 1000, max = 1500 }
//! debit = { min = 100, max = 300 }
//! gateway = { deactivate_after = 1000000, window = "60s", declining_cards = 0.0 }
//! ```

mod client;
mod config;
pub mod generator;

pub use config::{Amounts, BillingConfig, Mix, Reach};

use crate::WorkloadError;
use crate::client::{self as clients, ClientConfig, ClientSummary, OpError, Processes};
use crate::endpoints::Topology;
use crate::gateway::Gateway;
use crate::monitor::Monitor;
use crate::recorder::Recorder;
use crate::store::Stores;
use crate::sut::{Constructor, Layout, Sut, SutContext};
use crate::truth;
use checkers::history::{
    AccountId, AccountSpec, F, FinalState, OpType, Phase, PhaseName, Process, Value,
};
use client::{AccountLocks, BillingClient};
use generator::Generator;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A billing run between its phases.
pub struct BillingRun {
    config: BillingConfig,
    recorder: Recorder,
    sut: Sut,
    layout: Layout,
    gateway: Gateway,
    stores: Stores,
    accounts: Vec<AccountSpec>,
    monitor: Monitor,
    processes: Processes,
    /// Workers started so far, across calls of `run`: each draws its own stream.
    workers: AtomicU32,
    locks: Option<Arc<AccountLocks>>,
}

/// What the final phase found.
#[derive(Debug)]
pub struct Finished {
    /// Whether the system settled in time (recorded as the harness's `settle`).
    pub settled: Result<(), OpError>,
    /// Every account's final state, as recorded.
    pub finals: Vec<FinalState>,
}

impl BillingRun {
    /// Builds the system under test, prepares the stores, opens the accounts and starts
    /// the monitor.
    pub async fn setup(
        config: BillingConfig,
        system: &Constructor,
        topology: Topology,
        recorder: Recorder,
    ) -> Result<BillingRun, WorkloadError> {
        let gateway = Gateway::new(config.gateway.clone(), config.seed, recorder.clone());
        BillingRun::setup_with_gateway(config, system, topology, recorder, gateway).await
    }

    /// [`setup`](Self::setup) with a gateway made beforehand (as
    /// `Gateway::new(config.gateway, config.seed, recorder)`): a service in another
    /// process needs the gateway's address before it starts.
    pub async fn setup_with_gateway(
        config: BillingConfig,
        system: &Constructor,
        topology: Topology,
        recorder: Recorder,
        gateway: Gateway,
    ) -> Result<BillingRun, WorkloadError> {
        config.validate()?;
        let settings = config.stores.clone();
        let sut =
            system(SutContext { topology: topology.clone(), gateway: gateway.clone(), settings });
        let layout = sut.layout();
        layout.validate().map_err(WorkloadError::Config)?;
        let shape = Value::Layout(layout.shape());
        recorder.record(Process::Harness, OpType::Ok, F::Layout, shape, None);
        let stores = Stores::new(topology.clone(), &config.stores);
        let accounts = generator::accounts(&config);
        sut.create_schema(&stores).await?;
        sut.seed(&stores, &accounts).await?;
        for spec in &accounts {
            recorder.record(Process::Harness, OpType::Ok, F::Open, Value::Open(spec.clone()), None);
        }
        let ids: Vec<AccountId> = accounts.iter().map(|a| a.account).collect();
        let monitor =
            Monitor::start(recorder.clone(), topology, &layout, &ids, config.monitor.clone());
        let locks = config.exclusive_payments.then(|| Arc::new(AccountLocks::new(config.accounts)));
        let (processes, workers) = (Processes::new(0), AtomicU32::new(0));
        Ok(BillingRun {
            config,
            recorder,
            sut,
            layout,
            gateway,
            stores,
            accounts,
            monitor,
            processes,
            workers,
            locks,
        })
    }

    /// The system under test.
    pub fn sut(&self) -> &Sut {
        &self.sut
    }

    /// The harness's card gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The accounts as opened.
    pub fn accounts(&self) -> &[AccountSpec] {
        &self.accounts
    }

    /// Runs client workers until the time limit passes or `cancel` fires; another call
    /// runs new workers, drawing new requests.
    pub async fn run(&self, cancel: &CancellationToken) -> ClientSummary {
        self.run_for(self.config.clients.time_limit, cancel).await
    }

    /// The recovery phase, once every fault healed: records its beginning (process
    /// `harness`, f `phase`) and runs new client workers for `period`, or until `cancel`
    /// fires.
    pub async fn recover(&self, period: Duration, cancel: &CancellationToken) -> ClientSummary {
        let phase = Value::Phase(Phase { phase: PhaseName::Recovery });
        self.recorder.record(Process::Harness, OpType::Ok, F::Phase, phase, None);
        self.run_for(period, cancel).await
    }

    async fn run_for(&self, time_limit: Duration, cancel: &CancellationToken) -> ClientSummary {
        let config = ClientConfig { time_limit, ..self.config.clients.clone() };
        let workers = config.workers;
        let first = self.workers.fetch_add(workers, Ordering::Relaxed);
        let clients = (first..first + workers)
            .map(|worker| BillingClient {
                generator: Generator::new(&self.config, worker),
                sut: self.sut.clone(),
                locks: self.locks.clone(),
            })
            .collect();
        clients::run(clients, &config, &self.recorder, &self.processes, cancel).await
    }

    /// After a `quiet` period, lets the system settle, stops the monitor and records
    /// every account's final state, read from the stores through the system's layout.
    pub async fn finish(self, quiet: Duration) -> Finished {
        tokio::time::sleep(quiet).await;
        let settled = self.settle().await;
        if let Err(e) = &settled {
            tracing::warn!("the system under test did not settle: {e}");
        }
        self.monitor.stop().await;
        let ids: Vec<AccountId> = self.accounts.iter().map(|a| a.account).collect();
        let finals = truth::final_states(&self.stores, &self.layout, &ids).await;
        for state in &finals {
            let value = Value::Final(state.clone());
            self.recorder.record(Process::Harness, OpType::Ok, F::Final, value, None);
        }
        Finished { settled, finals }
    }

    /// The system's `settle`, recorded as a harness operation: an invocation, then `ok`,
    /// `fail` or `info` with the error. A system that overruns its deadline by
    /// [`SETTLE_GRACE`] is cut off (`info`).
    async fn settle(&self) -> Result<(), OpError> {
        self.recorder.invoke(Process::Harness, F::Settle, Value::Nil);
        let limit = self.config.settle_timeout;
        let settling = self.sut.settle(Instant::now() + limit);
        let settled = match tokio::time::timeout(limit + SETTLE_GRACE, settling).await {
            Ok(settled) => settled,
            Err(_) => Err(OpError::Indeterminate(format!(
                "settle did not return within {:?} of its deadline",
                SETTLE_GRACE
            ))),
        };
        let (kind, error) = match &settled {
            Ok(()) => (OpType::Ok, None),
            Err(OpError::Refused(e)) => (OpType::Fail, Some(e.clone())),
            Err(OpError::Indeterminate(e)) => (OpType::Info, Some(e.clone())),
        };
        self.recorder.record(Process::Harness, kind, F::Settle, Value::Nil, error);
        settled
    }
}

/// How long past its deadline `settle` may run before the harness stops waiting.
pub const SETTLE_GRACE: Duration = Duration::from_secs(5);
