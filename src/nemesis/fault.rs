//! The catalogue: every fault as a value, with the nodes it acts on.
//!
//! A fault names *what* to do; the [`Nemesis`](super::Nemesis) decides nothing but the
//! random choices a [`Target`] leaves open, and performs it. In TOML a fault is a table
//! whose `fault` key names it, with its parameters beside it in kebab-case:
//!
//! ```toml
//! fault = "kill"
//! target = "replica"          # or "master", "redis-2", ["redis-1", "redis-2"], ...
//! ```
//!
//! The `gateway-*` faults act on the harness's card gateway (their target, recorded as
//! `gateway`), which only the billing workload has. `partition-service` acts on a
//! service under test run as a container (recorded as `service`), cutting it from
//! stores and the gateway.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use workloads::gateway::GatewayFault;

/// What faults need of the nodes they touch ([`Fault::needs`]); `|` joins two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeNeeds {
    /// Some fault acts on a node (not only on the gateway or the service).
    pub nodes: bool,
    /// Some fault drops packets with iptables.
    pub iptables: bool,
    /// Some fault shapes traffic with tc netem.
    pub netem: bool,
}

impl std::ops::BitOr for NodeNeeds {
    type Output = NodeNeeds;
    fn bitor(self, other: NodeNeeds) -> NodeNeeds {
        NodeNeeds {
            nodes: self.nodes || other.nodes,
            iptables: self.iptables || other.iptables,
            netem: self.netem || other.netem,
        }
    }
}

/// One fault of the catalogue. Every fault has an explicit heal, listed with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case", rename_all_fields = "kebab-case")]
#[serde(deny_unknown_fields)]
pub enum Fault {
    /// Cuts each target from every other Redis node and sentinel (iptables inside the
    /// nodes). Heal: its rules are removed.
    Isolate {
        /// The isolated nodes, each on its own; a random node by default.
        #[serde(default = "Target::one")]
        target: Target,
    },
    /// Cuts every replica from the master at once; replicas still see each other. The
    /// 2013 trigger. Heal: its rules are removed.
    PartitionReplicas,
    /// Splits the Redis nodes and sentinels into two random halves. Heal: its rules
    /// are removed.
    PartitionHalves,
    /// Cuts the target nodes (Redis nodes or sentinels, by name) from the other Redis
    /// nodes and sentinels: by default a random minority of the Redis nodes. Heal: its
    /// rules are removed.
    PartitionMinority {
        /// One side of the cut.
        #[serde(default = "Target::minority")]
        target: Target,
    },
    /// Two random halves of the Redis nodes and sentinels that cannot talk, and one
    /// node that talks to both. Heal: its rules are removed.
    PartitionBridge,
    /// Drops the packets `from` sends to `to`; the other direction passes. Heal: its
    /// rules are removed.
    PartitionOneWay {
        /// Whose packets are dropped.
        #[serde(default = "Target::master")]
        from: Target,
        /// Who drops them on arrival.
        #[serde(default = "Target::replicas")]
        to: Target,
    },
    /// Cuts the harness's clients from the target nodes (`"postgres"` for the ledger).
    /// Heal: its rules are removed.
    PartitionClients {
        /// The nodes clients can no longer reach.
        #[serde(default = "Target::master")]
        target: Target,
    },
    /// Cuts the service under test, run as a container on the run's network, from the
    /// stores and the card gateway it names (`from = ["postgres", "gateway"]`; by
    /// default every store and the gateway): each store drops the service's packets
    /// (iptables inside it, or the disconnect fallback, which takes the store off the
    /// network), and the service's packets to the gateway's port are dropped in the
    /// service's own network namespace. Only a container service can be cut.
    /// Heal: its rules are removed.
    PartitionService {
        /// The stores (by name, or a Redis selector) and `"gateway"`; every store and
        /// the gateway when left out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Target>,
    },
    /// `kill -9` of the server (redis-server, a sentinel or postgres). Heal: the node
    /// starts again and rejoins as a replica of the current master (with Sentinel, the
    /// node the sentinels name, pointed at by the address Sentinel knows it by: as an
    /// operator restarting it with the right config would, rather than leaving a
    /// returning master to Sentinel's conversion, which `isolate-master` exercises).
    Kill {
        /// The killed nodes.
        #[serde(default = "Target::one")]
        target: Target,
    },
    /// A clean stop (SIGTERM). Heal: as for [`Fault::Kill`].
    Stop {
        /// The stopped nodes.
        #[serde(default = "Target::one")]
        target: Target,
    },
    /// A clean restart with the node's own config: a Redis master without persistence
    /// comes back empty. Heal: the node is checked to serve, in the right role.
    Restart {
        /// The restarted nodes.
        #[serde(default = "Target::one")]
        target: Target,
    },
    /// Freezes every process of the node (the cgroup freezer). Heal: thawed.
    Pause {
        /// The paused nodes.
        #[serde(default = "Target::one")]
        target: Target,
    },
    /// SAVE, then a restart with `appendonly yes` and no AOF: Redis ignores dump.rdb and
    /// starts empty. Heal: a restart with the node's good config, which loads that SAVE:
    /// a declared rollback of the node's data to the fault's start (the heal's effect
    /// says so under `declared`, and the report shows it).
    RestartAofMissing {
        /// The restarted nodes.
        #[serde(default = "Target::master")]
        target: Target,
    },
    /// SAVE, then a restart with `replicaof` naming the node itself: it serves its data
    /// but refuses every write (READONLY). Heal: a restart with the node's good config,
    /// which loads that SAVE (a declared rollback, as for `restart-aof-missing`).
    RestartSelfReplica {
        /// The restarted nodes.
        #[serde(default = "Target::master")]
        target: Target,
    },
    /// Both at once, the 2013 restart: empty and read-only. Heal: a restart with the
    /// node's good config, which loads the SAVE made when the fault started: the node's
    /// balances roll back to that moment unless it resyncs from another master. The
    /// rollback is declared, not hidden: it is what restarting a failed master from its
    /// snapshot does, and a billing system must survive it as it survives any restart.
    #[serde(rename = "restart-2013")]
    Restart2013 {
        /// The restarted nodes.
        #[serde(default = "Target::master")]
        target: Target,
    },
    /// Postgres with `synchronous_commit = off`, then, at heal, `kill -9` while commits
    /// are acknowledged: the last acknowledged commits are lost. Heal: the kill, a
    /// start, and `synchronous_commit` restored.
    PostgresAsyncCommit,
    /// Every replica cut and its connection killed while writes overrun the replication
    /// backlog; healed together, each replica needs a full resync. Heal: the rules are
    /// removed and the resync is watched.
    ResyncStorm(Storm),
    /// The storm with a tight `client-output-buffer-limit replica` under write load: the
    /// replicas loop through full resyncs and never converge while it holds. Heal: as
    /// the storm, then the limit is restored and the replicas converge.
    ResyncLoop(Storm),
    /// Promotes a replica (`REPLICAOF NO ONE`), repoints every other node at it, and
    /// moves the harness's clients there. Heal: every replica is checked to be linked.
    Failover {
        /// The promoted replica; a random one by default.
        #[serde(default = "Target::replica")]
        target: Target,
    },
    /// Promotes a replica while the old master keeps taking the clients' writes. Heal:
    /// clients move to the promoted node and the old master rejoins as its replica,
    /// discarding every write it took since the split. It took effect if the old
    /// master's `master_repl_offset` advanced by more than its pings to its replicas.
    SplitBrain {
        /// The promoted replica; a random one by default.
        #[serde(default = "Target::replica")]
        target: Target,
    },
    /// With Redis Sentinel: cuts the current master, and a minority of the sentinels
    /// with it, from every other Redis node and sentinel, while the harness's clients
    /// reach both sides (Jepsen's Redis grudge). The majority side elects a new master
    /// while the old one keeps taking the writes of clients that still believe in it.
    /// Heal: the rules are removed and the old master watched until Sentinel demotes
    /// it (it then throws away every write it took since the cut). It took effect when
    /// the old master took writes while cut off and, if a new master was elected, ended
    /// a replica.
    IsolateMaster,
    /// tc netem delay on the nodes' outgoing packets, where the kernel has netem.
    /// Heal: the qdisc is removed.
    Delay {
        /// The slowed nodes.
        #[serde(default = "Target::all")]
        target: Target,
        /// The added delay.
        #[serde(default = "default_delay", with = "humantime_serde")]
        delay: Duration,
    },
    /// tc netem loss of the nodes' outgoing packets, where the kernel has netem.
    /// Heal: the qdisc is removed.
    Loss {
        /// The lossy nodes.
        #[serde(default = "Target::all")]
        target: Target,
        /// Percent of packets lost.
        #[serde(default = "default_loss")]
        percent: u8,
    },
    /// The card gateway answers every charge `delay` late (the charge itself is decided
    /// at once). Target: the gateway. Heal: answers come at once again.
    GatewayLatency {
        /// How late each answer comes.
        #[serde(default = "default_gateway_delay", with = "humantime_serde")]
        delay: Duration,
    },
    /// A burst of declines: the gateway declines every charge (`card-declined`).
    /// Heal: cards are charged again.
    GatewayDeclines,
    /// The gateway fails every charge before capturing it: the caller gets an error
    /// (`500`), nothing is captured. Heal: charges go through again.
    GatewayErrorsBefore,
    /// The gateway decides every charge as usual, then the caller gets an error
    /// (`500`): captured money the caller was not told of. Heal: answers are true again.
    GatewayErrorsAfter,
    /// The gateway decides every charge as usual and its answer never arrives: the
    /// caller waits until it gives up. Heal: answers arrive again.
    GatewayLostResponse,
    /// The gateway is down: every charge is refused (`503`), nothing captured. Heal:
    /// it is back.
    GatewayOutage,
    /// `kill -9` of the service under test (its whole process group). With
    /// `after-capture`, at the first capture the gateway makes once the fault starts:
    /// between a charge and its credit. Heal: the service is started again, with the
    /// stores where they are now, and answers `GET /v1/health`.
    KillService {
        /// Wait for the gateway's next capture, then kill.
        #[serde(default)]
        after_capture: bool,
    },
    /// Freezes the service under test (`SIGSTOP` to its process group): requests hang.
    /// Heal: `SIGCONT`.
    PauseService,
    /// Restarts the service under test: killed, started again, healthy. Heal: nothing
    /// to undo.
    RestartService,
}

/// What a service fault does to the service under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceFault {
    /// `kill -9`, at once or just after the gateway's next capture.
    Kill {
        /// Wait for the gateway's next capture.
        after_capture: bool,
    },
    /// `SIGSTOP`.
    Pause,
    /// Killed and started again.
    Restart,
}

/// The gateway faults' target in histories and reports.
pub const GATEWAY: &str = "gateway";

/// The service under test, as fault targets and histories name it.
pub const SERVICE: &str = "service";

fn default_gateway_delay() -> Duration {
    Duration::from_millis(500)
}

fn default_delay() -> Duration {
    Duration::from_millis(100)
}

fn default_loss() -> u8 {
    20
}

/// Parameters of a resync storm; each left out takes the variant's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Storm {
    /// The master's `client-output-buffer-limit` while the fault holds. The storm keeps
    /// the master's own; the loop's default is `replica 256kb 128kb 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_buffer_limit: Option<String>,
    /// KiB per second the nemesis itself writes to the master from the start to the end
    /// of the watch, so the fault does not depend on a workload. The storm's default is
    /// 0 (a burst at the start overruns the backlog); the loop's is 4096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_kib_per_sec: Option<u32>,
    /// How long the heal watches the replicas resync before it calls the storm over:
    /// 30 s for the storm, 20 s for the loop.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    pub watch: Option<Duration>,
}

/// A storm's parameters with the variant's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StormPlan {
    pub(crate) output_buffer_limit: Option<String>,
    pub(crate) load_kib_per_sec: u32,
    pub(crate) watch: Duration,
}

impl Storm {
    pub(crate) fn plan(&self, resync_loop: bool) -> StormPlan {
        let limit = match resync_loop {
            true => Some("replica 256kb 128kb 1".to_string()),
            false => None,
        };
        StormPlan {
            output_buffer_limit: self.output_buffer_limit.clone().or(limit),
            load_kib_per_sec: self.load_kib_per_sec.unwrap_or(if resync_loop { 4096 } else { 0 }),
            watch: self.watch.unwrap_or(Duration::from_secs(if resync_loop { 20 } else { 30 })),
        }
    }
}

/// Every fault's name, in catalogue order.
pub const CATALOGUE: [&str; 31] = [
    "isolate",
    "partition-replicas",
    "partition-halves",
    "partition-minority",
    "partition-bridge",
    "partition-one-way",
    "partition-clients",
    "partition-service",
    "kill",
    "stop",
    "restart",
    "pause",
    "restart-aof-missing",
    "restart-self-replica",
    "restart-2013",
    "postgres-async-commit",
    "resync-storm",
    "resync-loop",
    "failover",
    "split-brain",
    "delay",
    "loss",
    "gateway-latency",
    "gateway-declines",
    "gateway-errors-before",
    "gateway-errors-after",
    "gateway-lost-response",
    "gateway-outage",
    "kill-service",
    "pause-service",
    "restart-service",
];

impl Fault {
    /// Every fault of the catalogue with its default targets and parameters, e.g. for a
    /// [`RandomSchedule`](super::RandomSchedule) that throws everything at the cluster.
    pub fn catalogue() -> Vec<Fault> {
        CATALOGUE
            .iter()
            .map(|name| {
                let bare = serde_json::json!({ "fault": name });
                serde_json::from_value(bare).expect("every fault has defaults for all it takes")
            })
            .collect()
    }

    /// What this fault needs of the nodes it may touch: whether it touches nodes at all
    /// (the gateway's and the service's faults do not), iptables, and tc netem. A run on
    /// hosts checks every host for these before it starts.
    pub fn needs(&self) -> NodeNeeds {
        let nodes = !matches!(
            self,
            Fault::GatewayLatency { .. }
                | Fault::GatewayDeclines
                | Fault::GatewayErrorsBefore
                | Fault::GatewayErrorsAfter
                | Fault::GatewayLostResponse
                | Fault::GatewayOutage
                | Fault::KillService { .. }
                | Fault::PauseService
                | Fault::RestartService
        );
        let iptables = matches!(
            self,
            Fault::Isolate { .. }
                | Fault::PartitionReplicas
                | Fault::PartitionHalves
                | Fault::PartitionMinority { .. }
                | Fault::PartitionBridge
                | Fault::PartitionOneWay { .. }
                | Fault::PartitionClients { .. }
                | Fault::PartitionService { .. }
                | Fault::ResyncStorm(_)
                | Fault::ResyncLoop(_)
                | Fault::IsolateMaster
        );
        let netem = matches!(self, Fault::Delay { .. } | Fault::Loss { .. });
        NodeNeeds { nodes, iptables, netem }
    }

    /// Reads a fault from its table (`fault = "..."` and its parameters), refusing a
    /// parameter the fault does not take: serde alone would ignore one given to a fault
    /// that takes none (`target` on `partition-replicas`).
    pub(crate) fn from_table(
        table: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Fault, String> {
        let keys: Vec<String> = table.keys().filter(|k| *k != "fault").cloned().collect();
        let fault: Fault =
            serde_json::from_value(serde_json::Value::Object(table)).map_err(|e| e.to_string())?;
        let takes_none = matches!(
            fault,
            Fault::PartitionReplicas
                | Fault::PartitionHalves
                | Fault::PartitionBridge
                | Fault::PostgresAsyncCommit
                | Fault::GatewayDeclines
                | Fault::GatewayErrorsBefore
                | Fault::GatewayErrorsAfter
                | Fault::GatewayLostResponse
                | Fault::GatewayOutage
                | Fault::PauseService
                | Fault::RestartService
        );
        match keys.first() {
            Some(key) if takes_none => Err(format!("{} takes no `{key}`", fault.name())),
            _ => Ok(fault),
        }
    }

    /// The targets the fault names (a one-way cut names two: from, to); none for the
    /// faults whose nodes follow from the topology.
    pub fn targets(&self) -> Vec<&Target> {
        match self {
            Fault::Isolate { target }
            | Fault::PartitionMinority { target }
            | Fault::PartitionClients { target }
            | Fault::Kill { target }
            | Fault::Stop { target }
            | Fault::Restart { target }
            | Fault::Pause { target }
            | Fault::RestartAofMissing { target }
            | Fault::RestartSelfReplica { target }
            | Fault::Restart2013 { target }
            | Fault::Failover { target }
            | Fault::SplitBrain { target }
            | Fault::Delay { target, .. }
            | Fault::Loss { target, .. } => vec![target],
            Fault::PartitionOneWay { from, to } => vec![from, to],
            Fault::PartitionService { from: Some(from) } => vec![from],
            _ => vec![],
        }
    }

    /// The fault's name in the catalogue and in histories, e.g. `partition-replicas`.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Isolate { .. } => "isolate",
            Fault::PartitionReplicas => "partition-replicas",
            Fault::PartitionHalves => "partition-halves",
            Fault::PartitionMinority { .. } => "partition-minority",
            Fault::PartitionBridge => "partition-bridge",
            Fault::PartitionOneWay { .. } => "partition-one-way",
            Fault::PartitionClients { .. } => "partition-clients",
            Fault::PartitionService { .. } => "partition-service",
            Fault::Kill { .. } => "kill",
            Fault::Stop { .. } => "stop",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::RestartAofMissing { .. } => "restart-aof-missing",
            Fault::RestartSelfReplica { .. } => "restart-self-replica",
            Fault::Restart2013 { .. } => "restart-2013",
            Fault::PostgresAsyncCommit => "postgres-async-commit",
            Fault::ResyncStorm(_) => "resync-storm",
            Fault::ResyncLoop(_) => "resync-loop",
            Fault::Failover { .. } => "failover",
            Fault::SplitBrain { .. } => "split-brain",
            Fault::IsolateMaster => "isolate-master",
            Fault::Delay { .. } => "delay",
            Fault::Loss { .. } => "loss",
            Fault::GatewayLatency { .. } => "gateway-latency",
            Fault::GatewayDeclines => "gateway-declines",
            Fault::GatewayErrorsBefore => "gateway-errors-before",
            Fault::GatewayErrorsAfter => "gateway-errors-after",
            Fault::GatewayLostResponse => "gateway-lost-response",
            Fault::GatewayOutage => "gateway-outage",
            Fault::KillService { .. } => "kill-service",
            Fault::PauseService => "pause-service",
            Fault::RestartService => "restart-service",
        }
    }

    /// What a service fault does to the service under test; `None` for other faults.
    pub fn service(&self) -> Option<ServiceFault> {
        match self {
            Fault::KillService { after_capture } => {
                Some(ServiceFault::Kill { after_capture: *after_capture })
            }
            Fault::PauseService => Some(ServiceFault::Pause),
            Fault::RestartService => Some(ServiceFault::Restart),
            _ => None,
        }
    }

    /// Whether it acts on the service under test as a container, which a run of a
    /// built-in system or of a service process cannot give it.
    pub fn needs_service_container(&self) -> bool {
        matches!(self, Fault::PartitionService { .. })
    }

    /// What a gateway fault does to the harness's gateway; `None` for other faults.
    pub fn gateway(&self) -> Option<GatewayFault> {
        Some(match self {
            Fault::GatewayLatency { delay } => GatewayFault::Latency(*delay),
            Fault::GatewayDeclines => GatewayFault::Declines,
            Fault::GatewayErrorsBefore => GatewayFault::ErrorsBefore,
            Fault::GatewayErrorsAfter => GatewayFault::ErrorsAfter,
            Fault::GatewayLostResponse => GatewayFault::LostResponse,
            Fault::GatewayOutage => GatewayFault::Outage,
            _ => return None,
        })
    }
}

/// Which nodes a fault acts on. In TOML: a selector (`"one"`, `"replica"`, `"master"`,
/// `"replicas"`, `"all"`, `"minority"`, `"majority"`), a node's name (`"redis-1"`,
/// `"postgres"`), or a list of names.
///
/// Selectors choose among the Redis nodes, from the roles as they are when the fault
/// starts (after a failover, `"master"` is the promoted node); random choices come from
/// the nemesis's seeded generator. Postgres is reached only by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// Chosen by role or at random.
    Select(Selector),
    /// One node by name.
    Node(String),
    /// Nodes by name.
    Nodes(Vec<String>),
}

/// How a [`Target`] chooses among the Redis nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// One node at random.
    One,
    /// One replica at random.
    Replica,
    /// The current master.
    Master,
    /// Every replica.
    Replicas,
    /// Every Redis node.
    All,
    /// A random minority: (n-1)/2 nodes.
    Minority,
    /// A random majority: n/2+1 nodes.
    Majority,
}

impl Target {
    /// A random Redis node.
    pub fn one() -> Target {
        Target::Select(Selector::One)
    }
    /// A random replica.
    pub fn replica() -> Target {
        Target::Select(Selector::Replica)
    }
    /// The current master.
    pub fn master() -> Target {
        Target::Select(Selector::Master)
    }
    /// Every replica.
    pub fn replicas() -> Target {
        Target::Select(Selector::Replicas)
    }
    /// Every Redis node.
    pub fn all() -> Target {
        Target::Select(Selector::All)
    }
    /// A random minority of the Redis nodes.
    pub fn minority() -> Target {
        Target::Select(Selector::Minority)
    }
    /// Named nodes.
    pub fn nodes<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Target {
        Target::Nodes(names.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Fault, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn faults_read_from_toml_with_defaults_and_kebab_case_fields() {
        assert_eq!(parse(r#"fault = "partition-replicas""#).unwrap(), Fault::PartitionReplicas);
        assert_eq!(parse(r#"fault = "kill""#).unwrap(), Fault::Kill { target: Target::one() });
        assert_eq!(
            parse("fault = \"kill\"\ntarget = \"postgres\"").unwrap(),
            Fault::Kill { target: Target::Node("postgres".into()) }
        );
        assert_eq!(
            parse("fault = \"isolate\"\ntarget = [\"redis-1\", \"redis-2\"]").unwrap(),
            Fault::Isolate { target: Target::nodes(["redis-1", "redis-2"]) }
        );
        assert_eq!(
            parse("fault = \"partition-one-way\"\nfrom = \"replicas\"\nto = \"master\"").unwrap(),
            Fault::PartitionOneWay { from: Target::replicas(), to: Target::master() }
        );
        assert_eq!(
            parse("fault = \"delay\"\ndelay = \"250ms\"").unwrap(),
            Fault::Delay { target: Target::all(), delay: Duration::from_millis(250) }
        );
        assert_eq!(
            parse("fault = \"resync-loop\"\nload-kib-per-sec = 512\nwatch = \"10s\"").unwrap(),
            Fault::ResyncLoop(Storm {
                output_buffer_limit: None,
                load_kib_per_sec: Some(512),
                watch: Some(Duration::from_secs(10))
            })
        );
    }

    #[test]
    fn gateway_faults_read_with_their_defaults_and_take_no_target() {
        let latency = parse(r#"fault = "gateway-latency""#).unwrap();
        assert_eq!(latency, Fault::GatewayLatency { delay: Duration::from_millis(500) });
        assert_eq!(latency.gateway(), Some(GatewayFault::Latency(Duration::from_millis(500))));
        assert_eq!(
            parse(r#"fault = "gateway-outage""#).unwrap().gateway(),
            Some(GatewayFault::Outage)
        );
        assert_eq!(Fault::PartitionReplicas.gateway(), None);
        let table = serde_json::json!({ "fault": "gateway-outage", "target": "redis-0" });
        let err = Fault::from_table(table.as_object().unwrap().clone()).unwrap_err();
        assert_eq!(err, "gateway-outage takes no `target`");
    }

    #[test]
    fn partition_service_cuts_everything_by_default_or_what_it_names() {
        let all = parse(r#"fault = "partition-service""#).unwrap();
        assert_eq!(all, Fault::PartitionService { from: None });
        assert!(all.targets().is_empty() && all.needs_service_container());
        let pg = parse("fault = \"partition-service\"\nfrom = \"postgres\"").unwrap();
        assert_eq!(pg, Fault::PartitionService { from: Some(Target::Node("postgres".into())) });
        assert!(!Fault::PartitionReplicas.needs_service_container());
    }

    #[test]
    fn the_loop_defaults_to_a_tight_buffer_under_load_and_the_storm_to_neither() {
        let Fault::ResyncLoop(storm) = parse(r#"fault = "resync-loop""#).unwrap() else {
            panic!("not a loop")
        };
        let plan = storm.plan(true);
        assert_eq!(plan.output_buffer_limit.as_deref(), Some("replica 256kb 128kb 1"));
        assert_eq!((plan.load_kib_per_sec, plan.watch), (4096, Duration::from_secs(20)));
        let plan = Storm::default().plan(false);
        assert_eq!(plan.output_buffer_limit, None);
        assert_eq!((plan.load_kib_per_sec, plan.watch), (0, Duration::from_secs(30)));
    }

    #[test]
    fn a_misspelt_field_or_fault_is_an_error_not_a_default() {
        let err = parse("fault = \"kill\"\ntargt = \"master\"").unwrap_err().to_string();
        assert!(err.contains("targt"), "{err}");
        let err = parse(r#"fault = "kil""#).unwrap_err().to_string();
        assert!(err.contains("kil"), "{err}");
        assert!(parse("fault = \"resync-storm\"\nwach = \"1s\"").is_err());
    }

    #[test]
    fn every_fault_writes_back_to_the_toml_it_was_read_from() {
        let names: Vec<&str> = Fault::catalogue().iter().map(Fault::name).collect();
        assert_eq!(names, CATALOGUE);
        let mut faults = Fault::catalogue();
        faults.extend([
            Fault::Isolate { target: Target::master() },
            Fault::PartitionClients { target: Target::Node("postgres".into()) },
            Fault::ResyncLoop(Storm { watch: Some(Duration::from_secs(5)), ..Storm::default() }),
            Fault::Loss { target: Target::nodes(["redis-0"]), percent: 5 },
            Fault::GatewayLatency { delay: Duration::from_secs(2) },
            Fault::PartitionService { from: Some(Target::nodes(["postgres", "gateway"])) },
        ]);
        for fault in faults {
            let text = toml::to_string(&fault).unwrap();
            assert!(text.starts_with(&format!("fault = \"{}\"", fault.name())), "{text}");
            assert_eq!(parse(&text).unwrap(), fault, "{text}");
        }
    }
}
