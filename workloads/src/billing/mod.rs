//! The billing workload: many small usage debits, some payments, balance reads, over N
//! accounts with auto-recharge, against a system under test.
//!
//! A run goes through three phases, so the runner can fault the cluster in between:
//!
//! 1. [`BillingRun::setup`]: builds the system under test with the harness's
//!    [`Gateway`], creates the schema, seeds every account in both stores, records one
//!    `open` per account and starts the [`Monitor`].
//! 2. [`BillingRun::run`]: client workers until the time limit or cancellation (may be
//!    called again for another stretch).
//! 3. [`BillingRun::finish`], once faults are healed: a quiet period, `settle`, the last
//!    probe, then one `final` per account.
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
//! ```

mod client;
pub mod generator;

use crate::WorkloadError;
use crate::client::{self as clients, ClientConfig, ClientSummary, OpError, Processes};
use crate::endpoints::Topology;
use crate::gateway::{Gateway, GatewayConfig};
use crate::monitor::{Monitor, MonitorConfig};
use crate::recorder::Recorder;
use crate::store::{StoreSettings, Stores};
use crate::sut::{Constructor, Sut, SutContext};
use checkers::format::Header;
use checkers::history::{AccountId, AccountSpec, F, FinalState, OpType, Process, Value};
use client::{AccountLocks, BillingClient};
use generator::Generator;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A billing run's settings; the defaults are those of the example in the
/// [module docs](self).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    /// Seeds the requests, the opening balances and the gateway's declining cards.
    pub seed: u64,
    /// How many accounts (N), numbered from 0.
    pub accounts: u32,
    /// Workers, rate, time limit, op timeout.
    pub clients: ClientConfig,
    /// Relative weights of debits, payments and reads.
    pub mix: Mix,
    /// Cents per usage debit.
    pub debit: Amounts,
    /// Cents per manual payment.
    pub payment: Amounts,
    /// Opening balances, in cents.
    pub opening: Amounts,
    /// A debit leaving the balance below this recharges (T), in cents.
    pub threshold: i64,
    /// What one recharge charges and credits (R), in cents.
    pub recharge: i64,
    /// The card gateway's rules.
    pub gateway: GatewayConfig,
    /// The monitor's pace and timeouts.
    pub monitor: MonitorConfig,
    /// Store timeouts and pool size, for the harness and the system under test.
    pub stores: StoreSettings,
    /// How long `settle` may take.
    #[serde(with = "humantime_serde")]
    pub settle_timeout: Duration,
}

/// Relative weights of the three requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Usage debits.
    pub debit: f64,
    /// Manual payments.
    pub payment: f64,
    /// Balance reads.
    pub read: f64,
}

/// A range of amounts in cents, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amounts {
    /// The least.
    pub min: i64,
    /// The most.
    pub max: i64,
}

impl Default for BillingConfig {
    fn default() -> BillingConfig {
        BillingConfig {
            seed: 0,
            accounts: 100,
            clients: ClientConfig::default(),
            mix: Mix { debit: 0.90, payment: 0.02, read: 0.08 },
            debit: Amounts { min: 1, max: 10 },
            payment: Amounts { min: 500, max: 2000 },
            opening: Amounts { min: 1000, max: 6000 },
            threshold: 1000,
            recharge: 5000,
            gateway: GatewayConfig::default(),
            monitor: MonitorConfig::default(),
            stores: StoreSettings::default(),
            settle_timeout: Duration::from_secs(30),
        }
    }
}

impl BillingConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |why: &str| Err(WorkloadError::Config(why.to_owned()));
        let mix = &self.mix;
        let weights = [mix.debit, mix.payment, mix.read];
        if self.accounts == 0 || self.clients.workers == 0 {
            return bad("accounts and clients.workers must be at least 1");
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0
        {
            return bad("mix weights must be non-negative and not all zero");
        }
        for (name, a) in
            [("debit", self.debit), ("payment", self.payment), ("opening", self.opening)]
        {
            if a.min > a.max || (name != "opening" && a.min <= 0) {
                return bad(&format!("{name}: min must be positive and at most max"));
            }
        }
        Ok(())
    }

    /// The history header of a run of `system` under these settings.
    pub fn header(&self, system: &str) -> Header {
        let mut meta = serde_json::Map::new();
        meta.insert("workload".into(), "billing".into());
        meta.insert("sut".into(), system.into());
        meta.insert("seed".into(), self.seed.into());
        Header::new(meta)
    }
}

/// A billing run between its phases.
pub struct BillingRun {
    config: BillingConfig,
    recorder: Recorder,
    sut: Sut,
    gateway: Gateway,
    stores: Stores,
    accounts: Vec<AccountSpec>,
    monitor: Monitor,
    processes: Processes,
    /// Workers started so far, across calls of `run`: each draws its own stream.
    workers: AtomicU32,
    locks: Arc<AccountLocks>,
}

/// What the final phase found.
#[derive(Debug)]
pub struct Finished {
    /// Whether the system settled in time.
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
        config.validate()?;
        let gateway = Gateway::new(config.gateway.clone(), config.seed, recorder.clone());
        let settings = config.stores.clone();
        let sut =
            system(SutContext { topology: topology.clone(), gateway: gateway.clone(), settings });
        let stores = Stores::new(topology.clone(), &config.stores);
        let accounts = generator::accounts(&config);
        sut.create_schema(&stores).await?;
        sut.seed(&stores, &accounts).await?;
        for spec in &accounts {
            recorder.record(Process::Harness, OpType::Ok, F::Open, Value::Open(spec.clone()), None);
        }
        let watched = accounts.iter().map(|a| (a.account, sut.balance_key(a.account))).collect();
        let monitor = Monitor::start(recorder.clone(), topology, watched, config.monitor.clone());
        let locks = Arc::new(AccountLocks::new(config.accounts));
        let (processes, workers) = (Processes::new(0), AtomicU32::new(0));
        Ok(BillingRun {
            config,
            recorder,
            sut,
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
        let workers = self.config.clients.workers;
        let first = self.workers.fetch_add(workers, Ordering::Relaxed);
        let clients = (first..first + workers)
            .map(|worker| BillingClient {
                generator: Generator::new(&self.config, worker),
                sut: self.sut.clone(),
                locks: self.locks.clone(),
            })
            .collect();
        clients::run(clients, &self.config.clients, &self.recorder, &self.processes, cancel).await
    }

    /// After a `quiet` period, lets the system settle, stops the monitor and records
    /// every account's final state.
    pub async fn finish(self, quiet: Duration) -> Finished {
        tokio::time::sleep(quiet).await;
        let settled = self.sut.settle(Instant::now() + self.config.settle_timeout).await;
        if let Err(e) = &settled {
            tracing::warn!("the system under test did not settle: {e}");
        }
        self.monitor.stop().await;
        let ids: Vec<AccountId> = self.accounts.iter().map(|a| a.account).collect();
        let finals = self.sut.final_states(&self.stores, &ids).await;
        for state in &finals {
            let value = Value::Final(state.clone());
            self.recorder.record(Process::Harness, OpType::Ok, F::Final, value, None);
        }
        Finished { settled, finals }
    }
}
