//! Scenarios as data: a TOML file names the topology, the workload, the fault schedule,
//! the checkers' settings and the seed. The bundled ones live in
//! `workloads/scenarios/`; a user's file is read the same way.
//!
//! ```toml
//! name = "kill-master"
//! description = "The Redis master is killed mid-run and started again."
//! seed = 7
//! quiet = "2s"                       # after the heal, before the final reads
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
//! Errors name the file, line and column, whether the TOML does not parse, a field or
//! fault is unknown, or a fault's targets cannot exist in the scenario's topology.

use crate::cluster::ClusterBuilder;
use crate::nemesis::{Fault, RandomSchedule, Schedule, ScheduledFault, Selector, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use workloads::billing::BillingConfig;
use workloads::counter::CounterConfig;
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
    /// The quiet period after the heal, before the final reads.
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
    /// The set workload's settings, if it is the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<SetConfig>,
    /// Faults at scripted times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<toml::Spanned<ScheduledFault>>,
    /// Faults drawn from the seed at an interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<toml::Spanned<RandomSchedule>>,
    /// Checker settings.
    #[serde(default)]
    pub checkers: CheckerSpec,
}

fn default_quiet() -> Duration {
    Duration::from_secs(2)
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
}

impl Default for ClusterSpec {
    fn default() -> ClusterSpec {
        ClusterSpec {
            redis_replicas: 2,
            postgres: true,
            redis: BTreeMap::new(),
            postgres_settings: BTreeMap::new(),
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
        builder
    }

    /// The names the cluster's nodes will have.
    pub fn node_names(&self) -> Vec<String> {
        let redis = (0..=self.redis_replicas).map(|i| format!("redis-{i}"));
        redis.chain(self.postgres.then(|| "postgres".to_string())).collect()
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
    /// Jepsen's set on Redis.
    Set(SetConfig),
}

impl WorkloadKind {
    /// The workload's name, as a history header gives it.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Billing => "billing",
            WorkloadKind::Counter => "counter",
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
        let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            ScenarioError::Invalid { file: file.to_string(), line, column, message }
        };
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().to_string()))?;
        scenario.validate().map_err(|(span, message)| invalid(Some(span), message))?;
        Ok(scenario)
    }

    /// Checks what parsing cannot: targets must exist in the topology, and the
    /// workload needs what it uses.
    fn validate(&self) -> Result<(), (std::ops::Range<usize>, String)> {
        let nodes = self.cluster.node_names();
        for fault in &self.faults {
            check_fault(&fault.get_ref().fault, &self.cluster, &nodes)
                .map_err(|m| (fault.span(), m))?;
        }
        if let Some(random) = &self.random {
            for fault in &random.get_ref().faults {
                check_fault(fault, &self.cluster, &nodes).map_err(|m| (random.span(), m))?;
            }
        }
        if self.workload == WorkloadKind::Billing && !self.cluster.postgres {
            return Err((
                0..0,
                "the billing workload keeps its ledger in Postgres: set cluster.postgres = true"
                    .into(),
            ));
        }
        let tables = [
            (WorkloadKind::Billing, "billing", self.billing.is_some()),
            (WorkloadKind::Counter, "counter", self.counter.is_some()),
            (WorkloadKind::Set, "set", self.set.is_some()),
        ];
        match tables.iter().find(|(kind, _, present)| *present && *kind != self.workload) {
            Some((_, table, _)) => Err((
                0..0,
                format!("a [{table}] table is given, but workload = {:?}", self.workload.name()),
            )),
            None => Ok(()),
        }
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
            WorkloadKind::Set => WorkloadSpec::Set(self.set.clone().unwrap_or_default()),
        }
    }

    /// The scenario with command-line overrides applied, the seed carried into the
    /// workload, and the workload's table written out.
    pub fn resolve(mut self, overrides: &Overrides) -> Scenario {
        if let Some(seed) = overrides.seed {
            self.seed = seed;
        }
        let seed = self.seed;
        let clients = match self.workload {
            WorkloadKind::Billing => {
                let config = self.billing.get_or_insert_with(Default::default);
                config.seed = seed;
                &mut config.clients
            }
            WorkloadKind::Counter => {
                let config = self.counter.get_or_insert_with(Default::default);
                config.seed = seed;
                &mut config.clients
            }
            WorkloadKind::Set => &mut self.set.get_or_insert_with(Default::default).clients,
        };
        if let Some(limit) = overrides.time_limit {
            clients.time_limit = limit;
        }
        if let Some(workers) = overrides.concurrency {
            clients.workers = workers;
        }
        self
    }

    /// The fault schedule: the scripted faults, then the random ones drawn from the
    /// seed, in time order.
    pub fn schedule(&self) -> Schedule {
        let mut faults: Vec<ScheduledFault> =
            self.faults.iter().map(|f| f.get_ref().clone()).collect();
        if let Some(random) = &self.random {
            faults.extend(random.get_ref().draw(self.seed).faults);
        }
        faults.sort_by_key(|f| f.at);
        Schedule { faults }
    }

    /// The scenario as TOML, for the store.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# could not write the scenario: {e}\n"))
    }
}

fn check_fault(fault: &Fault, cluster: &ClusterSpec, nodes: &[String]) -> Result<(), String> {
    let name = fault.name();
    let needs_replica = matches!(
        fault,
        Fault::PartitionReplicas
            | Fault::ResyncStorm(_)
            | Fault::ResyncLoop(_)
            | Fault::Failover { .. }
            | Fault::SplitBrain { .. }
    );
    if needs_replica && cluster.redis_replicas == 0 {
        return Err(format!(
            "fault {name:?} needs at least one Redis replica, and cluster.redis_replicas = 0"
        ));
    }
    if matches!(fault, Fault::PostgresAsyncCommit) && !cluster.postgres {
        return Err(format!("fault {name:?} needs Postgres, and cluster.postgres = false"));
    }
    for target in fault.targets() {
        check_target(name, target, cluster, nodes)?;
    }
    Ok(())
}

fn check_target(
    fault: &str,
    target: &Target,
    cluster: &ClusterSpec,
    nodes: &[String],
) -> Result<(), String> {
    let names: Vec<&String> = match target {
        Target::Select(Selector::Replica | Selector::Replicas) if cluster.redis_replicas == 0 => {
            return Err(format!(
                "fault {fault:?} targets replicas, and cluster.redis_replicas = 0"
            ));
        }
        Target::Select(_) => vec![],
        Target::Node(name) => vec![name],
        Target::Nodes(names) => names.iter().collect(),
    };
    match names.into_iter().find(|n| !nodes.contains(n)) {
        Some(unknown) => Err(format!(
            "fault {fault:?} targets {unknown:?}, which is not a node of this cluster ({})",
            nodes.join(", ")
        )),
        None => Ok(()),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

/// Every bundled scenario: its name and description.
pub fn bundled() -> Vec<(String, Result<Scenario, ScenarioError>)> {
    bundled_names().into_iter().map(|name| (name.to_string(), Scenario::load(name))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"t\"\ndescription = \"d\"\nworkload = \"billing\"\n[billing]\n";

    #[test]
    fn every_bundled_scenario_parses_and_validates() {
        let all = bundled();
        assert!(all.len() >= 8, "{:?}", all.iter().map(|(n, _)| n).collect::<Vec<_>>());
        for (name, scenario) in all {
            let scenario = scenario.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(scenario.name, name);
        }
    }

    #[test]
    fn an_unknown_field_is_reported_with_file_line_and_column() {
        let text = format!("{MINIMAL}acounts = 10\n");
        let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
        assert!(err.starts_with("my.toml:5:1: unknown field `acounts`"), "{err}");
    }

    #[test]
    fn an_unknown_fault_is_reported_where_it_is_written() {
        let text = format!("{MINIMAL}[[faults]]\nat = \"1s\"\nfault = \"meteor\"\n");
        let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
        assert!(err.starts_with("my.toml:5:1: unknown variant `meteor`"), "{err}");
    }

    #[test]
    fn a_target_outside_the_topology_is_an_error() {
        let text =
            format!("{MINIMAL}[[faults]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"redis-7\"\n");
        let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
        assert!(err.starts_with("my.toml:5:1: fault \"kill\" targets \"redis-7\""), "{err}");
        let text = "name = \"t\"\ndescription = \"d\"\nworkload = \"counter\"\n[cluster]\nredis_replicas = 0\n[[faults]]\nat = \"1s\"\nfault = \"failover\"\n";
        let err = Scenario::parse("my.toml", text).unwrap_err().to_string();
        assert!(err.contains("needs at least one Redis replica"), "{err}");
    }

    #[test]
    fn overrides_replace_seed_time_limit_and_workers() {
        let scenario = Scenario::parse("t.toml", MINIMAL).unwrap();
        let overrides = Overrides {
            seed: Some(9),
            time_limit: Some(Duration::from_secs(3)),
            concurrency: Some(2),
        };
        let resolved = scenario.resolve(&overrides);
        let WorkloadSpec::Billing(config) = resolved.workload() else { panic!() };
        assert_eq!((resolved.seed, config.seed, config.clients.workers), (9, 9, 2));
        assert_eq!(config.clients.time_limit, Duration::from_secs(3));
        let reread = Scenario::parse("again.toml", &resolved.to_toml()).unwrap();
        assert_eq!(reread.seed, 9);
    }
}
