//! What a schedule would do to the nodes, worked out without touching them: each step's
//! fault resolved to nodes with the nemesis's own seeded choices, on the cluster as it
//! starts (`redis-0` the master), and the actions that change a node, in order. The SSH
//! backend turns these into the commands it would send (`faultline run --dry-run`).
//!
//! Read-only commands (INFO, the probes that judge a fault) are not listed, and a fault
//! whose target depends on what happened before it (a master after a failover) is
//! shown as it would resolve at the start.

use super::fault::{Fault, StormPlan};
use super::grudge::Grudge;
use super::net;
use super::plan::Plan;
use super::process::BadConfig;
use super::schedule::{Schedule, Step};
use super::targets::View;
use super::topology::set_directive;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// One change to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A shell script, run as root.
    Script(String),
    /// SIGKILL to its server.
    Kill,
    /// A clean stop.
    Stop,
    /// A start with its configuration file as it is.
    Start,
    /// A clean stop and a start.
    Restart,
    /// Every process frozen.
    Pause,
    /// Thawed.
    Resume,
    /// Its configuration file replaced with this text.
    Config(String),
    /// This signal to its server.
    Signal(&'static str),
    /// Something the harness does, not a node (the gateway's and service's faults).
    Harness(String),
}

/// One step of the schedule, as the dry run shows it.
#[derive(Clone, Debug)]
pub struct Planned {
    /// When, from the start of the run.
    pub at: Duration,
    /// The fault's name.
    pub fault: &'static str,
    /// Whether this is its heal.
    pub heal: bool,
    /// The nodes it acts on.
    pub targets: Vec<String>,
    /// What it does, node by node, in order.
    pub actions: Vec<(String, Action)>,
}

/// The cluster the dry run works on: its nodes, their addresses among themselves, the
/// clients' address as the nodes see it, and each node's configuration file.
pub struct DryCluster {
    /// Redis nodes.
    pub redis: Vec<String>,
    /// Sentinels.
    pub sentinels: Vec<String>,
    /// Every node.
    pub all: Vec<String>,
    /// Addresses among the nodes.
    pub ips: BTreeMap<String, IpAddr>,
    /// Where the clients come from (an address, or a placeholder for one).
    pub clients: String,
    /// Configuration files as the cluster starts.
    pub configs: BTreeMap<String, String>,
}

impl DryCluster {
    fn kind(&self, node: &str) -> crate::cluster::NodeKind {
        use crate::cluster::NodeKind;
        match (self.redis.iter().any(|n| n == node), self.sentinels.iter().any(|n| n == node)) {
            (true, _) => NodeKind::Redis,
            (_, true) => NodeKind::Sentinel,
            _ => NodeKind::Postgres,
        }
    }
}

/// Every step of `schedule` in time order, with the nemesis's choices for `seed`.
pub fn plan(schedule: &Schedule, cluster: &DryCluster, seed: u64) -> Vec<Planned> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ super::interpreter::TARGET_STREAM);
    let view = View {
        master: "redis-0".into(),
        redis: cluster.redis.clone(),
        all: cluster.all.clone(),
        sentinels: cluster.sentinels.clone(),
    };
    let mut started: BTreeMap<usize, (u32, Plan)> = BTreeMap::new();
    let mut next_id = 1;
    let mut steps = Vec::new();
    for (at, step) in schedule.timeline() {
        match step {
            Step::Start(i) => {
                let fault = &schedule.fault(i).fault;
                let id = next_id;
                next_id += 1;
                match Plan::new(fault, &view, &mut rng) {
                    Ok(plan) => {
                        let actions = start_actions(fault, &plan, id, cluster);
                        let targets = plan.targets();
                        steps.push(Planned {
                            at,
                            fault: fault.name(),
                            heal: false,
                            targets,
                            actions,
                        });
                        started.insert(i, (id, plan));
                    }
                    Err(e) => steps.push(Planned {
                        at,
                        fault: fault.name(),
                        heal: false,
                        targets: Vec::new(),
                        actions: vec![(String::new(), Action::Harness(format!("refused: {e}")))],
                    }),
                }
            }
            Step::Heal(i) => {
                if let Some((id, plan)) = started.remove(&i) {
                    let fault = &schedule.fault(i).fault;
                    let actions = heal_actions(&plan, id, cluster);
                    let targets = plan.targets();
                    steps.push(Planned { at, fault: fault.name(), heal: true, targets, actions });
                }
            }
        }
    }
    // As `heal_all` does: paused nodes first, then the latest fault first.
    let mut left: Vec<(usize, (u32, Plan))> = started.into_iter().collect();
    left.sort_by_key(|(_, (id, plan))| (!matches!(plan, Plan::Pause(_)), std::cmp::Reverse(*id)));
    for (i, (id, plan)) in left {
        let fault = &schedule.fault(i).fault;
        let actions = heal_actions(&plan, id, cluster);
        let at = Duration::MAX;
        steps.push(Planned {
            at,
            fault: fault.name(),
            heal: true,
            targets: plan.targets(),
            actions,
        });
    }
    steps
}

fn rules(grudge: &Grudge, id: u32, cluster: &DryCluster) -> Vec<(String, Action)> {
    let tag = format!("faultline-{id}");
    grudge
        .iter()
        .map(|(node, peers)| {
            let port = cluster.kind(node).port();
            let script = net::rule_script(peers, &cluster.ips, &cluster.clients, port, &tag);
            (node.clone(), Action::Script(script))
        })
        .collect()
}

fn unrules(grudge: &Grudge, id: u32) -> Vec<(String, Action)> {
    let script = net::removal_script(&format!("faultline-{id} "));
    grudge.keys().map(|node| (node.clone(), Action::Script(script.clone()))).collect()
}

fn each(nodes: &[String], action: Action) -> Vec<(String, Action)> {
    nodes.iter().map(|n| (n.clone(), action.clone())).collect()
}

fn redis_cli(node: &str, args: &str) -> (String, Action) {
    (node.to_string(), Action::Script(format!("redis-cli {args}")))
}

fn config(cluster: &DryCluster, node: &str) -> String {
    cluster.configs.get(node).cloned().unwrap_or_default()
}

fn bad_config(cluster: &DryCluster, node: &str, bad: &BadConfig) -> String {
    let mut text = config(cluster, node);
    if bad.aof {
        text = set_directive(&text, "appendonly", Some("yes"));
    }
    if bad.self_replica {
        let own = cluster.ips.get(node).map(|ip| format!("{ip} 6379"));
        text = set_directive(&text, "replicaof", own.as_deref());
    }
    text
}

fn start_actions(
    fault: &Fault,
    plan: &Plan,
    id: u32,
    cluster: &DryCluster,
) -> Vec<(String, Action)> {
    match plan {
        Plan::Cut(grudge) => rules(grudge, id, cluster),
        Plan::IsolateMaster(_, grudge) => rules(grudge, id, cluster),
        Plan::Down(down, nodes) => each(
            nodes,
            match down {
                super::process::Down::Kill => Action::Kill,
                super::process::Down::Stop => Action::Stop,
            },
        ),
        Plan::Restart(nodes) => each(nodes, Action::Restart),
        Plan::Pause(nodes) => each(nodes, Action::Pause),
        Plan::BadRestart(bad, nodes) => nodes
            .iter()
            .flat_map(|n| {
                let mut actions = vec![redis_cli(n, "SAVE")];
                if bad.aof {
                    let rm =
                        "rm -rf $(redis-cli CONFIG GET dir | tail -n 1)/appendonlydir".to_string();
                    actions.push((n.clone(), Action::Script(rm)));
                }
                actions.push((n.clone(), Action::Config(bad_config(cluster, n, bad))));
                actions.push((n.clone(), Action::Restart));
                actions
            })
            .collect(),
        Plan::AsyncCommit => {
            let text = super::topology::set_setting(
                &config(cluster, "postgres"),
                "synchronous_commit",
                "off",
            );
            vec![
                ("postgres".into(), Action::Config(text)),
                ("postgres".into(), Action::Signal("HUP")),
            ]
        }
        Plan::Storm(_, _, nodes) => {
            let master = nodes.iter().find(|n| *n == "redis-0").cloned().unwrap_or_default();
            let replicas: Vec<String> = nodes.iter().filter(|n| **n != master).cloned().collect();
            let grudge = super::grudge::complete(&[vec![master.clone()], replicas]);
            let mut actions = Vec::new();
            if let Plan::Storm(_, StormPlan { output_buffer_limit: Some(limit), .. }, _) = plan {
                let set = format!("CONFIG SET client-output-buffer-limit '{limit}'");
                actions.push(redis_cli(&master, &set));
            }
            actions.extend(rules(&grudge, id, cluster));
            actions.push(redis_cli(&master, "CLIENT KILL TYPE replica"));
            actions.push(redis_cli(&master, "EVAL <writes past the replication backlog>"));
            actions
        }
        Plan::Failover(new) | Plan::SplitBrain(new) => {
            let mut actions = vec![redis_cli(new, "REPLICAOF NO ONE")];
            if matches!(plan, Plan::Failover(_)) {
                let ip = cluster.ips.get(new).map(ToString::to_string).unwrap_or_default();
                for other in cluster.redis.iter().filter(|n| *n != new) {
                    actions.push(redis_cli(other, &format!("REPLICAOF {ip} 6379")));
                }
            }
            actions
        }
        Plan::Netem(args, nodes) => nodes
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    Action::Script(format!("tc qdisc add dev <interface> root netem {args}")),
                )
            })
            .collect(),
        Plan::Gateway(_) | Plan::Service(_) | Plan::CutService(..) => {
            vec![(
                String::new(),
                Action::Harness(format!("{} (in the harness, on no host)", fault.name())),
            )]
        }
    }
}

fn heal_actions(plan: &Plan, id: u32, cluster: &DryCluster) -> Vec<(String, Action)> {
    match plan {
        Plan::Cut(grudge) | Plan::IsolateMaster(_, grudge) => unrules(grudge, id),
        Plan::Storm(_, storm, nodes) => {
            let master = "redis-0".to_string();
            let replicas: Vec<String> = nodes.iter().filter(|n| **n != master).cloned().collect();
            let mut actions =
                unrules(&super::grudge::complete(&[vec![master.clone()], replicas]), id);
            if storm.output_buffer_limit.is_some() {
                let restore = "CONFIG SET client-output-buffer-limit <as the run started>";
                actions.push(redis_cli(&master, restore));
            }
            actions
        }
        Plan::Down(_, nodes) => each(nodes, Action::Start),
        Plan::Pause(nodes) => each(nodes, Action::Resume),
        Plan::BadRestart(_, nodes) => nodes
            .iter()
            .flat_map(|n| {
                [
                    (n.clone(), Action::Config(config(cluster, n))),
                    (n.clone(), Action::Restart),
                    (
                        n.clone(),
                        Action::Script(
                            "rm -rf $(redis-cli CONFIG GET dir | tail -n 1)/appendonlydir".into(),
                        ),
                    ),
                ]
            })
            .collect(),
        Plan::AsyncCommit => vec![
            ("postgres".into(), Action::Script("psql: numbered commits in the background".into())),
            ("postgres".into(), Action::Kill),
            ("postgres".into(), Action::Start),
            ("postgres".into(), Action::Config(config(cluster, "postgres"))),
            ("postgres".into(), Action::Signal("HUP")),
        ],
        Plan::SplitBrain(new) => {
            let ip = cluster.ips.get(new).map(ToString::to_string).unwrap_or_default();
            vec![redis_cli("redis-0", &format!("REPLICAOF {ip} 6379"))]
        }
        Plan::Netem(_, nodes) => nodes
            .iter()
            .map(|n| (n.clone(), Action::Script("tc qdisc del dev <interface> root".into())))
            .collect(),
        Plan::Restart(_) | Plan::Failover(_) => Vec::new(),
        Plan::Gateway(_) | Plan::Service(_) | Plan::CutService(..) => {
            vec![(String::new(), Action::Harness("healed in the harness".into()))]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::{ScheduledFault, Target};

    fn cluster() -> DryCluster {
        let nodes = ["redis-0", "redis-1", "redis-2"];
        DryCluster {
            redis: nodes.map(String::from).to_vec(),
            sentinels: Vec::new(),
            all: nodes.map(String::from).to_vec(),
            ips: nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.to_string(), IpAddr::from([10, 0, 0, i as u8 + 1])))
                .collect(),
            clients: "<harness>".into(),
            configs: nodes.iter().map(|n| (n.to_string(), "port 6379\n".to_string())).collect(),
        }
    }

    fn at(secs: u64, fault: Fault, hold: Option<u64>) -> ScheduledFault {
        ScheduledFault {
            at: Duration::from_secs(secs),
            duration: hold.map(Duration::from_secs),
            fault,
        }
    }

    #[test]
    fn steps_come_in_time_order_with_the_rules_and_signals_each_node_gets() {
        let schedule = Schedule {
            faults: vec![
                at(2, Fault::PartitionReplicas, Some(3)),
                at(3, Fault::Pause { target: Target::Node("redis-1".into()) }, None),
                at(4, Fault::Kill { target: Target::Node("redis-2".into()) }, None),
            ],
            random: Vec::new(),
        };
        let steps = plan(&schedule, &cluster(), 7);
        let shown: Vec<(&str, bool)> = steps.iter().map(|s| (s.fault, s.heal)).collect();
        assert_eq!(
            shown,
            [
                ("partition-replicas", false),
                ("pause", false),
                ("kill", false),
                ("partition-replicas", true),
                ("pause", true),
                ("kill", true),
            ],
            "heals at the end as heal_all orders them: paused nodes first, then the latest"
        );
        let cut = &steps[0].actions;
        assert_eq!(cut.len(), 3, "{cut:?}");
        let Action::Script(master) = &cut[0].1 else { panic!("{cut:?}") };
        assert!(
            master.contains("-A FAULTLINE -s 10.0.0.2 -m comment --comment faultline-1 -j DROP")
        );
        assert_eq!(steps[1].actions, [("redis-1".to_string(), Action::Pause)]);
        assert_eq!(steps[2].actions, [("redis-2".to_string(), Action::Kill)]);
        let Action::Script(heal) = &steps[3].actions[0].1 else { panic!() };
        assert!(heal.contains("--comment faultline-1 '"), "{heal}");
        assert_eq!(steps[4].actions, [("redis-1".to_string(), Action::Resume)]);
        assert_eq!(steps[5].actions, [("redis-2".to_string(), Action::Start)]);
    }

    #[test]
    fn a_bad_restart_writes_the_bad_config_and_its_heal_the_good_one() {
        let schedule = Schedule {
            faults: vec![at(1, Fault::Restart2013 { target: Target::master() }, Some(1))],
            random: Vec::new(),
        };
        let steps = plan(&schedule, &cluster(), 1);
        let configs: Vec<&String> = steps
            .iter()
            .flat_map(|s| &s.actions)
            .filter_map(|(_, a)| match a {
                Action::Config(text) => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(configs.len(), 2, "{steps:?}");
        assert!(
            configs[0].contains("appendonly yes") && configs[0].contains("replicaof 10.0.0.1 6379")
        );
        assert_eq!(configs[1], "port 6379\n");
    }
}
