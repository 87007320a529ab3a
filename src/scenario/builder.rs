//! [`ScenarioBuilder`]: a scenario set from code, every field typed, validated as a file
//! is.
//!
//! ```
//! use faultline::nemesis::{Fault, ScheduledFault, Target};
//! use faultline::scenario::{Scenario, ScenarioError};
//! use std::time::Duration;
//! use workloads::gateway::GatewayConfig;
//!
//! let secs = Duration::from_secs;
//! // The 2013 incident on ten accounts, whose cards the gateway deactivates after two
//! // captures, and the gateway down for 3 s after the bundled schedule's failover.
//! let scenario = Scenario::load("twilio-2013")?
//!     .into_builder()
//!     .seed(42)
//!     .accounts(10)
//!     .opening(2_000..=5_000)
//!     .debits(5..=50)
//!     .gateway(GatewayConfig { deactivate_after: 2, ..GatewayConfig::default() })
//!     .workers(4)
//!     .time_limit(secs(40))
//!     .fault(ScheduledFault::at(secs(32), Fault::GatewayOutage).lasting(secs(3)))
//!     .build()?;
//! assert_eq!(scenario.schedule().faults.last().unwrap().fault, Fault::GatewayOutage);
//!
//! // Validated as a file is, with the same message; the error names the key at fault.
//! let late = ScheduledFault::at(secs(10), Fault::Kill { target: Target::master() });
//! let err = Scenario::builder("too-late").time_limit(secs(10)).fault(late).build().unwrap_err();
//! assert!(err.to_string().starts_with(
//!     "scenario \"too-late\" built in code: faults[0].at: fault \"kill\" (step 0) starts at \
//!      10s, but the clients stop at 10s (billing.clients.time_limit = 10s)"
//! ));
//! # Ok::<(), ScenarioError>(())
//! ```
//!
//! The billing settings (accounts, amounts, threshold, recharge, mix, gateway rules)
//! write the `[billing]` table; given to a scenario of another workload, it is refused
//! as a file with that table would be. [`ScenarioBuilder::workload`] switches workloads,
//! keeping the client settings.

use super::{ClusterSpec, Scenario, ScenarioError, Source, WorkloadKind, validate};
use crate::cluster::SentinelConfig;
use crate::nemesis::{RandomSchedule, ScheduledFault};
use crate::service::ServiceSpec;
use std::ops::RangeInclusive;
use std::time::Duration;
use workloads::billing::{Amounts, BillingConfig, Mix};
use workloads::client::ClientConfig;
use workloads::counter::CounterConfig;
use workloads::gateway::GatewayConfig;
use workloads::register::RegisterConfig;
use workloads::set::SetConfig;

/// A scenario being set from code: from scratch ([`Scenario::builder`]: the defaults a
/// file with only a `name` has) or from a bundled or loaded one
/// ([`Scenario::into_builder`]). [`build`](ScenarioBuilder::build) validates it.
#[derive(Clone, Debug)]
#[must_use]
pub struct ScenarioBuilder {
    scenario: Scenario,
}

impl Scenario {
    /// A scenario named `name` built in code, from the defaults: the billing workload
    /// (100 accounts, 8 workers for 10 s), a master, two replicas and Postgres, no
    /// fault, seed 0, 5 s of recovery and 2 s of quiet.
    pub fn builder(name: &str) -> ScenarioBuilder {
        let scenario = Scenario {
            name: name.to_string(),
            description: String::new(),
            seed: 0,
            recovery: super::DEFAULT_RECOVERY,
            quiet: super::default_quiet(),
            cluster: ClusterSpec::default(),
            workload: WorkloadKind::default(),
            billing: None,
            counter: None,
            register: None,
            set: None,
            faults: Vec::new(),
            random: None,
            sut: None,
            checkers: Default::default(),
            source: Source::code(format!("scenario {name:?} built in code")),
        };
        ScenarioBuilder { scenario }
    }

    /// This scenario, to change from code; errors then name keys, not lines.
    pub fn into_builder(mut self) -> ScenarioBuilder {
        self.source = self.source.changed_in_code();
        ScenarioBuilder { scenario: self }
    }
}

impl ScenarioBuilder {
    /// The scenario, its seed carried into the workload, validated as a file is: the
    /// faults' targets against the topology, the workload's needs and settings, the
    /// schedule against the clients' time limit.
    pub fn build(self) -> Result<Scenario, ScenarioError> {
        let mut scenario = self.scenario;
        scenario.seed_workload();
        validate::validate(&scenario, validate::LimitFrom::File)?;
        Ok(scenario)
    }

    /// Its name: the store's directory for its runs.
    pub fn name(mut self, name: &str) -> Self {
        self.scenario.name = name.to_string();
        self
    }

    /// One line on what it shows.
    pub fn description(mut self, description: &str) -> Self {
        self.scenario.description = description.to_string();
        self
    }

    /// The seed of the workload, the nemesis's choices and random schedules.
    pub fn seed(mut self, seed: u64) -> Self {
        self.scenario.seed = seed;
        self
    }

    /// How long clients run again, with no fault, once every fault healed (zero: no
    /// recovery phase).
    pub fn recovery(mut self, recovery: Duration) -> Self {
        self.scenario.recovery = recovery;
        self
    }

    /// The quiet period after the recovery phase, before the final reads.
    pub fn quiet(mut self, quiet: Duration) -> Self {
        self.scenario.quiet = quiet;
        self
    }

    /// Switches the workload, keeping the client settings; the other workloads' settings
    /// go.
    pub fn workload(mut self, kind: WorkloadKind) -> Self {
        if kind != self.scenario.workload {
            let clients = self.scenario.clients_mut().clone();
            (self.scenario.billing, self.scenario.counter, self.scenario.set) = (None, None, None);
            self.scenario.register = None;
            self.scenario.workload = kind;
            *self.scenario.clients_mut() = clients;
        }
        self
    }

    fn billing_mut(&mut self) -> &mut BillingConfig {
        self.scenario.billing.get_or_insert_with(Default::default)
    }

    /// How many billing accounts (numbered from 0).
    pub fn accounts(mut self, accounts: u32) -> Self {
        self.billing_mut().accounts = accounts;
        self
    }

    /// Opening balances, in cents, drawn from this range.
    pub fn opening(mut self, cents: RangeInclusive<i64>) -> Self {
        self.billing_mut().opening = amounts(cents);
        self
    }

    /// Cents per usage debit, drawn from this range.
    pub fn debits(mut self, cents: RangeInclusive<i64>) -> Self {
        self.billing_mut().debit = amounts(cents);
        self
    }

    /// Cents per manual payment, drawn from this range.
    pub fn payments(mut self, cents: RangeInclusive<i64>) -> Self {
        self.billing_mut().payment = amounts(cents);
        self
    }

    /// A debit leaving the balance below this many cents recharges (T).
    pub fn threshold(mut self, cents: i64) -> Self {
        self.billing_mut().threshold = cents;
        self
    }

    /// What one recharge charges and credits, in cents (R).
    pub fn recharge(mut self, cents: i64) -> Self {
        self.billing_mut().recharge = cents;
        self
    }

    /// Relative weights of debits, payments and reads.
    pub fn mix(mut self, mix: Mix) -> Self {
        self.billing_mut().mix = mix;
        self
    }

    /// The card gateway's rules: deactivation after too many captures, declining cards.
    /// (Its faults are faults of the schedule: `Fault::GatewayOutage`, ….)
    pub fn gateway(mut self, gateway: GatewayConfig) -> Self {
        self.billing_mut().gateway = gateway;
        self
    }

    /// Any other billing setting (the monitor, store timeouts, `settle_timeout`,
    /// `exclusive_payments`, `reach`).
    pub fn billing(mut self, change: impl FnOnce(&mut BillingConfig)) -> Self {
        change(self.billing_mut());
        self
    }

    /// The counter workload's settings.
    pub fn counter(mut self, change: impl FnOnce(&mut CounterConfig)) -> Self {
        change(self.scenario.counter.get_or_insert_with(Default::default));
        self
    }

    /// The register workload's settings.
    pub fn register(mut self, change: impl FnOnce(&mut RegisterConfig)) -> Self {
        change(self.scenario.register.get_or_insert_with(Default::default));
        self
    }

    /// The set workload's settings.
    pub fn set(mut self, change: impl FnOnce(&mut SetConfig)) -> Self {
        change(self.scenario.set.get_or_insert_with(Default::default));
        self
    }

    fn clients(mut self, change: impl FnOnce(&mut ClientConfig)) -> Self {
        change(self.scenario.clients_mut());
        self
    }

    /// How many client workers run at once (C).
    pub fn workers(self, workers: u32) -> Self {
        self.clients(|c| c.workers = workers)
    }

    /// How long clients run; every scripted fault must start before.
    pub fn time_limit(self, limit: Duration) -> Self {
        self.clients(|c| c.time_limit = limit)
    }

    /// How long one operation may take before it is recorded `info`.
    pub fn op_timeout(self, timeout: Duration) -> Self {
        self.clients(|c| c.op_timeout = timeout)
    }

    /// The most operations per second, all workers together.
    pub fn rate(self, per_second: f64) -> Self {
        self.clients(|c| c.rate = Some(per_second))
    }

    /// Adds a scripted fault: the schedule's next step.
    pub fn fault(mut self, fault: ScheduledFault) -> Self {
        self.scenario.faults.push(fault);
        self
    }

    /// Replaces the scripted faults (none: `faults([])`).
    pub fn faults(mut self, faults: impl IntoIterator<Item = ScheduledFault>) -> Self {
        self.scenario.faults = faults.into_iter().collect();
        self
    }

    /// Faults drawn from the seed at an interval (`None`: no random faults).
    pub fn random(mut self, random: impl Into<Option<RandomSchedule>>) -> Self {
        self.scenario.random = random.into();
        self
    }

    /// Redis replicas following the master.
    pub fn redis_replicas(mut self, replicas: usize) -> Self {
        self.scenario.cluster.redis_replicas = replicas;
        self
    }

    /// Whether there is a Postgres node (the billing ledger needs one).
    pub fn postgres(mut self, postgres: bool) -> Self {
        self.scenario.cluster.postgres = postgres;
        self
    }

    /// Redis Sentinel nodes watching the master (an odd number), with their settings.
    pub fn sentinels(mut self, sentinels: usize, config: SentinelConfig) -> Self {
        (self.scenario.cluster.sentinels, self.scenario.cluster.sentinel) = (sentinels, config);
        self
    }

    /// A `redis.conf` directive for every Redis node.
    pub fn redis_setting(mut self, key: &str, value: &str) -> Self {
        self.scenario.cluster.redis.insert(key.to_string(), value.to_string());
        self
    }

    /// A `postgresql.conf` setting.
    pub fn postgres_setting(mut self, key: &str, value: &str) -> Self {
        self.scenario.cluster.postgres_settings.insert(key.to_string(), value.to_string());
        self
    }

    /// Any other change to the cluster (e.g. removing a `redis.conf` directive).
    pub fn cluster(mut self, change: impl FnOnce(&mut ClusterSpec)) -> Self {
        change(&mut self.scenario.cluster);
        self
    }

    /// A service under test in any language, started by faultline (`[sut]`).
    pub fn service(mut self, service: ServiceSpec) -> Self {
        self.scenario.sut = Some(service);
        self
    }

    /// The least fraction of operations that must succeed outside fault windows.
    pub fn min_availability(mut self, fraction: f64) -> Self {
        self.scenario.checkers.min_availability = Some(fraction);
        self
    }
}

fn amounts(cents: RangeInclusive<i64>) -> Amounts {
    Amounts { min: *cents.start(), max: *cents.end() }
}
