//! Scenarios as data: a TOML file names the topology, the workload, the fault schedule,
//! the checkers' settings and the seed. The bundled ones live in
//! `workloads/scenarios/`; a user's file is read the same way.
//!
//! ```toml
//! name = "kill-master"
//! description = "The Redis master is killed mid-run and started again."
//! seed = 7
//! recovery = "5s"                    # after the heal: clients again, no faults ("0s": none)
//! quiet = "2s"                       # after the recovery, before the final reads
//!
//! [cluster]                          # topology and settings; these are the defaults
//! redis_replicas = 2
//! postgres = true
//! redis = { save = "60 1" }          # redis.conf directives for every Redis node
//! postgres_settings = {}             # postgresql.conf settings
//!
//! workload = "billing"               # billing | counter | set; its settings in a table
//!
//! [billing]
//! accounts = 100
//! clients = { workers = 8, time_limit = "30s" }
//!
//! [[faults]]                         # the nemesis's schedule, as written
//! at = "10s"
//! fault = "kill"
//! target = "master"
//! duration = "5s"
//!
//! [random]                           # and/or random faults at an interval
//! interval = "10s"
//! hold = "4s"
//! length = "30s"
//! faults = [{ fault = "pause" }]
//! ```
//!
//! Errors name the file, line and column of the key or value at fault, whether the TOML
//! does not parse, a field or fault is unknown, a fault's targets cannot exist in the
//! scenario's topology, or a fault cannot fit the clients' time limit (also when
//! `--time-limit` shortens it: [`Scenario::resolve`]).
//!
//! From code, [`Scenario::builder`] starts a scenario from scratch and
//! [`Scenario::into_builder`] from a bundled or loaded one; [`ScenarioBuilder`] sets
//! any field and validates as a file is validated, the errors naming the key at fault.
//!
//! - `source`: the file's name and text, and positions from `toml`'s spans.
//! - `validate`: what parsing cannot check, and what "fits the time limit" means.
//! - `builder`: [`ScenarioBuilder`], every field typed, set from code.

mod builder;
mod source;
mod validate;

pub use builder::ScenarioBuilder;
pub use source::Source;
pub use validate::needs_container;

use crate::cluster::{ClusterBuilder, SentinelConfig};
use crate::nemesis::{RandomSchedule, Schedule, ScheduledFault};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use workloads::billing::BillingConfig;
use workloads::counter::CounterConfig;
use workloads::register::RegisterConfig;
use workloads::set::SetConfig;

/// A scenario, as read from its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name: the store's directory for its runs.
    pub name: String,
    /// One line on what it shows.
    pub description: String,
    /// Seeds the workload, the nemesis's choices and random schedules.
    #[serde(default)]
    pub seed: u64,
    /// The recovery phase: once every fault is healed, clients run again for this long
    /// with no fault, so a system that stays broken after the heal shows it. `0s`: none.
    #[serde(default = "default_recovery", with = "humantime_serde")]
    pub recovery: Duration,
    /// The quiet period after the recovery phase, before settling and the final reads.
    #[serde(default = "default_quiet", with = "humantime_serde")]
    pub quiet: Duration,
    /// Topology and server settings.
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// What the clients do.
    #[serde(default)]
    pub workload: WorkloadKind,
    /// The billing workload's settings, if it is the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<BillingConfig>,
    /// The counter workload's settings, if it is the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterConfig>,
    /// The register workload's settings, if it is the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<RegisterConfig>,
    /// The set workload's settings, if it is the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<SetConfig>,
    /// Faults at scripted times: the schedule's steps, in the order written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<ScheduledFault>,
    /// Faults drawn from the seed at an interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<RandomSchedule>,
    /// A service under test in any language (`docs/protocol.md`), started by faultline;
    /// absent: the system is chosen by name (`--sut`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sut: Option<crate::service::ServiceSpec>,
    /// Checker settings.
    #[serde(default)]
    pub checkers: CheckerSpec,
    /// The file it was read from (or the code that built it), for errors found after
    /// parsing.
    #[serde(skip)]
    pub source: Source,
}

fn default_quiet() -> Duration {
    Duration::from_secs(2)
}

/// How long the recovery phase lasts unless a scenario says otherwise.
pub const DEFAULT_RECOVERY: Duration = Duration::from_secs(5);

fn default_recovery() -> Duration {
    DEFAULT_RECOVERY
}

/// The cluster a scenario runs on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSpec {
    /// Redis replicas following the master.
    pub redis_replicas: usize,
    /// Whether there is a Postgres node (the billing ledger needs one).
    pub postgres: bool,
    /// `redis.conf` directives for every Redis node.
    pub redis: BTreeMap<String, String>,
    /// `postgresql.conf` settings.
    pub postgres_settings: BTreeMap<String, String>,
    /// Redis Sentinel nodes watching the master (an odd number; none by default).
    /// With them, clients find the master through Sentinel and failovers are
    /// Sentinel's.
    pub sentinels: usize,
    /// Sentinel's settings (`[cluster.sentinel]`: `quorum`, `down-after-milliseconds`,
    /// `failover-timeout`, `parallel-syncs`).
    #[serde(skip_serializing_if = "is_default")]
    pub sentinel: SentinelConfig,
}

fn is_default(config: &SentinelConfig) -> bool {
    *config == SentinelConfig::default()
}

impl Default for ClusterSpec {
    fn default() -> ClusterSpec {
        ClusterSpec {
            redis_replicas: 2,
            postgres: true,
            redis: BTreeMap::new(),
            postgres_settings: BTreeMap::new(),
            sentinels: 0,
            sentinel: SentinelConfig::default(),
        }
    }
}

impl ClusterSpec {
    /// A cluster builder for this spec.
    pub fn builder(&self, seed: u64) -> ClusterBuilder {
        let mut builder = ClusterBuilder::default().redis_replicas(self.redis_replicas).seed(seed);
        if self.postgres {
            builder = builder.postgres();
        }
        for (key, value) in &self.redis {
            builder = builder.redis_setting(key, value);
        }
        for (key, value) in &self.postgres_settings {
            builder = builder.postgres_setting(key, value);
        }
        if self.sentinels > 0 {
            builder = builder.sentinels(self.sentinels, self.sentinel.clone());
        }
        builder
    }

    /// The names the cluster's nodes will have.
    pub fn node_names(&self) -> Vec<String> {
        let redis = (0..=self.redis_replicas).map(|i| format!("redis-{i}"));
        let postgres = self.postgres.then(|| "postgres".to_string());
        let sentinels = (0..self.sentinels).map(|i| format!("sentinel-{i}"));
        redis.chain(postgres).chain(sentinels).collect()
    }
}

/// Which workload a scenario runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// The billing system under test.
    #[default]
    Billing,
    /// Jepsen's counter on Redis.
    Counter,
    /// Jepsen's register on Redis: reads, writes and compare-and-sets on independent keys.
    Register,
    /// Jepsen's set on Redis.
    Set,
}

/// The workload and its settings.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkloadSpec {
    /// The billing system under test.
    Billing(BillingConfig),
    /// Jepsen's counter on Redis.
    Counter(CounterConfig),
    /// Jepsen's register on Redis.
    Register(RegisterConfig),
    /// Jepsen's set on Redis.
    Set(SetConfig),
}

impl WorkloadKind {
    /// The workload's name, as a history header gives it.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Billing => "billing",
            WorkloadKind::Counter => "counter",
            WorkloadKind::Register => "register",
            WorkloadKind::Set => "set",
        }
    }
}

impl WorkloadSpec {
    /// Its client settings.
    pub fn clients(&self) -> &workloads::client::ClientConfig {
        match self {
            WorkloadSpec::Billing(c) => &c.clients,
            WorkloadSpec::Counter(c) => &c.clients,
            WorkloadSpec::Register(c) => &c.clients,
            WorkloadSpec::Set(c) => &c.clients,
        }
    }
}

/// Checker settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckerSpec {
    /// The least fraction of operations that must succeed outside fault windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_availability: Option<f64>,
}

/// Overrides from the command line, applied to a scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Replaces how long clients run.
    pub time_limit: Option<Duration>,
    /// Replaces how many client workers run.
    pub concurrency: Option<u32>,
    /// Replaces how long the recovery phase lasts.
    pub recovery: Option<Duration>,
}

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// No bundled scenario has that name and no file has that path.
    #[error("no scenario named {name:?}: bundled ones are {}; or give the path of a TOML file", bundled_names().join(", "))]
    Unknown {
        /// What was asked for.
        name: String,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The file (or `<bundled>/name.toml`).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A scenario built or changed in code is not valid (the same checks, and the same
    /// messages, as for a file).
    #[error("{origin}: {key}: {message}")]
    Built {
        /// What it was built from: `scenario "name" built in code`, or the file it was
        /// loaded from, `as changed in code`.
        origin: String,
        /// The key at fault, as a file would spell it: `faults[1].at`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn bundled_names() -> Vec<&'static str> {
    workloads::scenarios::BUNDLED.iter().map(|(name, _)| *name).collect()
}

impl Scenario {
    /// A bundled scenario by name, or a scenario file by path.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some((name, text)) =
            workloads::scenarios::BUNDLED.iter().find(|(n, _)| *n == name_or_path)
        {
            return Scenario::parse(&format!("<bundled>/{name}.toml"), text);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(ScenarioError::Unknown { name: name_or_path.to_string() });
        }
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
        Scenario::parse(&path.display().to_string(), &text)
    }

    /// Parses and validates scenario `text`, naming `file` in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let source = Source::new(file, text);
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|e| source.error_at(e.span(), e.message().into()))?;
        scenario.source = source;
        validate::validate(&scenario, validate::LimitFrom::File)?;
        Ok(scenario)
    }

    /// Whether a fault of its schedule acts on a service under test, so only a service
    /// faultline starts can run it.
    pub fn needs_service(&self) -> bool {
        let written = self.faults.iter().map(|f| &f.fault);
        let random = self.random.iter().flat_map(|r| r.faults.iter());
        written.chain(random).any(|f| f.service().is_some())
    }

    /// Refuses the service faults (`kill-service`, …) when the run tests `sut`, a system
    /// inside faultline rather than a service it starts; the error points at the fault.
    pub fn refuse_service_faults(&self, sut: &str) -> Result<(), ScenarioError> {
        validate::service_faults(self, sut)
    }

    /// The workload with its settings, defaults filled in.
    pub fn workload(&self) -> WorkloadSpec {
        match self.workload {
            WorkloadKind::Billing => {
                WorkloadSpec::Billing(self.billing.clone().unwrap_or_default())
            }
            WorkloadKind::Counter => {
                WorkloadSpec::Counter(self.counter.clone().unwrap_or_default())
            }
            WorkloadKind::Register => {
                WorkloadSpec::Register(self.register.clone().unwrap_or_default())
            }
            WorkloadKind::Set => WorkloadSpec::Set(self.set.clone().unwrap_or_default()),
        }
    }

    /// The scenario with command-line overrides applied, the seed carried into the
    /// workload, and the workload's table written out; refused if the schedule no
    /// longer fits the time limit (the error names the fault and where it is written).
    pub fn resolve(mut self, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
        if let Some(seed) = overrides.seed {
            self.seed = seed;
        }
        if let Some(recovery) = overrides.recovery {
            self.recovery = recovery;
        }
        self.seed_workload();
        let clients = self.clients_mut();
        if let Some(limit) = overrides.time_limit {
            clients.time_limit = limit;
        }
        if let Some(workers) = overrides.concurrency {
            clients.workers = workers;
        }
        if overrides.time_limit.is_some() {
            validate::validate(&self, validate::LimitFrom::CommandLine)?;
        }
        Ok(self)
    }

    /// Carries the seed into the workload's settings, writing its table out.
    fn seed_workload(&mut self) {
        let seed = self.seed;
        match self.workload {
            WorkloadKind::Billing => self.billing.get_or_insert_with(Default::default).seed = seed,
            WorkloadKind::Counter => self.counter.get_or_insert_with(Default::default).seed = seed,
            WorkloadKind::Register => {
                self.register.get_or_insert_with(Default::default).seed = seed;
            }
            WorkloadKind::Set => {
                self.set.get_or_insert_with(Default::default);
            }
        }
    }

    /// The workload's client settings, its table written out.
    fn clients_mut(&mut self) -> &mut workloads::client::ClientConfig {
        match self.workload {
            WorkloadKind::Billing => &mut self.billing.get_or_insert_with(Default::default).clients,
            WorkloadKind::Counter => &mut self.counter.get_or_insert_with(Default::default).clients,
            WorkloadKind::Register => {
                &mut self.register.get_or_insert_with(Default::default).clients
            }
            WorkloadKind::Set => &mut self.set.get_or_insert_with(Default::default).clients,
        }
    }

    /// The fault schedule: the scripted faults as its steps, in the order written,
    /// and the random ones drawn from the seed.
    pub fn schedule(&self) -> Schedule {
        let random = self.random.as_ref().map(|r| r.draw(self.seed).random);
        Schedule { faults: self.faults.clone(), random: random.unwrap_or_default() }
    }

    /// The scenario as TOML, for the store.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# could not write the scenario: {e}\n"))
    }
}

/// Every bundled scenario: its name and description.
pub fn bundled() -> Vec<(String, Result<Scenario, ScenarioError>)> {
    bundled_names().into_iter().map(|name| (name.to_string(), Scenario::load(name))).collect()
}

#[cfg(test)]
mod tests;
