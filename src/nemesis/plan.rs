//! A fault resolved against the cluster as it is: the exact nodes and the partition
//! shape the interpreter will act on. Pure: the roles come in a [`View`], the random
//! choices from the nemesis's seeded generator.

use super::NemesisError;
use super::fault::{Fault, ServiceFault, StormPlan, Target};
use super::grudge::{self, Grudge, Peer};
use super::process::{BadConfig, Down};
use super::targets::View;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use std::collections::BTreeSet;
use workloads::gateway::GatewayFault;

/// A fault resolved to nodes: what the interpreter will do.
pub(crate) enum Plan {
    /// Drop these packets.
    Cut(Grudge),
    /// Kill or stop these nodes.
    Down(Down, Vec<String>),
    /// Restart these nodes with their own config.
    Restart(Vec<String>),
    /// Freeze these nodes.
    Pause(Vec<String>),
    /// Restart these Redis nodes with this bad config.
    BadRestart(BadConfig, Vec<String>),
    /// Postgres with `synchronous_commit = off`.
    AsyncCommit,
    /// A storm (`true`: the loop) over these Redis nodes.
    Storm(bool, StormPlan, Vec<String>),
    /// Promote this replica.
    Failover(String),
    /// Promote this replica and leave the old master taking writes.
    SplitBrain(String),
    /// Cut the master (the first), with a minority of the sentinels, from the rest.
    IsolateMaster(String, Grudge),
    /// These netem arguments on these nodes.
    Netem(String, Vec<String>),
    /// This fault on the card gateway.
    Gateway(GatewayFault),
    /// Act on the service under test.
    Service(ServiceFault),
    /// Cut the service container from these stores, and from the gateway if `true`.
    CutService(Vec<String>, bool),
}

impl Plan {
    /// Resolves `fault` against the cluster as `view` shows it; random choices come
    /// from `rng`.
    pub(crate) fn new(
        fault: &Fault,
        view: &View,
        rng: &mut ChaCha8Rng,
    ) -> Result<Plan, NemesisError> {
        Ok(match fault {
            Fault::Isolate { target } => {
                let alone = view.resolve_peers(target, rng)?;
                let rest = view.peers().into_iter().filter(|n| !alone.contains(n)).collect();
                let mut sides: Vec<Vec<String>> = alone.into_iter().map(|n| vec![n]).collect();
                sides.push(rest);
                Plan::Cut(grudge::complete(&sides))
            }
            Fault::PartitionReplicas => {
                Plan::Cut(grudge::complete(&[vec![view.master.clone()], view.replicas()]))
            }
            Fault::PartitionHalves => {
                Plan::Cut(grudge::complete(&grudge::halves(&view.shuffled_peers(rng))))
            }
            Fault::PartitionMinority { target } => {
                let side = view.resolve_peers(target, rng)?;
                let rest: Vec<String> =
                    view.peers().into_iter().filter(|n| !side.contains(n)).collect();
                Plan::Cut(grudge::complete(&[side, rest]))
            }
            Fault::PartitionBridge if view.peers().len() < 3 => {
                return Err(NemesisError::NoTarget("a bridge needs three nodes".into()));
            }
            Fault::PartitionBridge => Plan::Cut(grudge::bridge(&view.shuffled_peers(rng))),
            Fault::PartitionOneWay { from, to } => {
                let from = view.resolve_redis(from, rng)?;
                Plan::Cut(grudge::one_way(&from, &view.resolve_redis(to, rng)?))
            }
            Fault::PartitionClients { target } => {
                Plan::Cut(grudge::clients(&view.resolve(target, rng)?))
            }
            Fault::PartitionService { from: None } => Plan::CutService(view.all.clone(), true),
            Fault::PartitionService { from: Some(target) } => {
                let gateway = super::fault::GATEWAY;
                let (named, selected) = match target {
                    Target::Select(_) => (vec![], true),
                    Target::Node(name) => (vec![name.clone()], false),
                    Target::Nodes(names) => (names.clone(), false),
                };
                let stores: Vec<String> = named.iter().filter(|n| *n != gateway).cloned().collect();
                let stores = match (selected, stores.is_empty()) {
                    (true, _) => view.resolve(target, rng)?,
                    (false, true) => Vec::new(),
                    (false, false) => view.resolve(&Target::Nodes(stores), rng)?,
                };
                Plan::CutService(stores, named.iter().any(|n| n == gateway))
            }
            Fault::Kill { target } => Plan::Down(Down::Kill, view.resolve(target, rng)?),
            Fault::Stop { target } => Plan::Down(Down::Stop, view.resolve(target, rng)?),
            Fault::Restart { target } => Plan::Restart(view.resolve(target, rng)?),
            Fault::Pause { target } => Plan::Pause(view.resolve(target, rng)?),
            Fault::RestartAofMissing { target } => {
                bad(view.resolve_redis(target, rng)?, true, false)
            }
            Fault::RestartSelfReplica { target } => {
                bad(view.resolve_redis(target, rng)?, false, true)
            }
            Fault::Restart2013 { target } => bad(view.resolve_redis(target, rng)?, true, true),
            Fault::PostgresAsyncCommit if !view.all.iter().any(|n| n == "postgres") => {
                return Err(NemesisError::NoTarget("the cluster has no Postgres".into()));
            }
            Fault::PostgresAsyncCommit => Plan::AsyncCommit,
            Fault::ResyncStorm(storm) => Plan::Storm(false, storm.plan(false), view.redis.clone()),
            Fault::ResyncLoop(storm) => Plan::Storm(true, storm.plan(true), view.redis.clone()),
            Fault::Failover { target } => Plan::Failover(one(view.resolve_redis(target, rng)?)),
            Fault::SplitBrain { target } => Plan::SplitBrain(one(view.resolve_redis(target, rng)?)),
            Fault::IsolateMaster if view.sentinels.is_empty() => {
                return Err(NemesisError::NoTarget("isolate-master needs Sentinel".into()));
            }
            Fault::IsolateMaster => {
                let mut sentinels = view.sentinels.clone();
                sentinels.shuffle(rng);
                let minority = sentinels.split_off(sentinels.len().div_ceil(2));
                let mut side = vec![view.master.clone()];
                side.extend(minority);
                let rest: Vec<String> = view
                    .redis
                    .iter()
                    .chain(&sentinels)
                    .filter(|n| !side.contains(n))
                    .cloned()
                    .collect();
                let grudge = grudge::complete(&[side, rest]);
                Plan::IsolateMaster(view.master.clone(), grudge)
            }
            Fault::Delay { target, delay } => {
                Plan::Netem(format!("delay {}ms", delay.as_millis()), view.resolve(target, rng)?)
            }
            Fault::Loss { target, percent } => {
                Plan::Netem(format!("loss {percent}%"), view.resolve(target, rng)?)
            }
            Fault::GatewayLatency { .. }
            | Fault::GatewayDeclines
            | Fault::GatewayErrorsBefore
            | Fault::GatewayErrorsAfter
            | Fault::GatewayLostResponse
            | Fault::GatewayOutage => Plan::Gateway(fault.gateway().expect("a gateway fault")),
            Fault::KillService { .. } | Fault::PauseService | Fault::RestartService => {
                Plan::Service(fault.service().expect("a service fault"))
            }
        })
    }

    /// The nodes the plan acts on, sorted.
    pub(crate) fn targets(&self) -> Vec<String> {
        let nodes: BTreeSet<String> = match self {
            Plan::Cut(grudge) | Plan::IsolateMaster(_, grudge) => grudge
                .iter()
                .flat_map(|(node, peers)| {
                    let peers = peers.iter().filter_map(|p| match p {
                        Peer::Node(n) => Some(n.clone()),
                        Peer::Clients => None,
                    });
                    std::iter::once(node.clone()).chain(peers)
                })
                .collect(),
            Plan::Down(_, nodes)
            | Plan::Restart(nodes)
            | Plan::Pause(nodes)
            | Plan::BadRestart(_, nodes)
            | Plan::Netem(_, nodes)
            | Plan::Storm(_, _, nodes) => nodes.iter().cloned().collect(),
            Plan::AsyncCommit => BTreeSet::from(["postgres".to_string()]),
            Plan::Failover(node) | Plan::SplitBrain(node) => BTreeSet::from([node.clone()]),
            Plan::Gateway(_) => BTreeSet::from([super::fault::GATEWAY.to_string()]),
            Plan::Service(_) => BTreeSet::from([super::fault::SERVICE.to_string()]),
            Plan::CutService(stores, gateway) => {
                let mut nodes: BTreeSet<String> = stores.iter().cloned().collect();
                nodes.insert(super::fault::SERVICE.to_string());
                if *gateway {
                    nodes.insert(super::fault::GATEWAY.to_string());
                }
                nodes
            }
        };
        nodes.into_iter().collect()
    }
}

fn bad(nodes: Vec<String>, aof: bool, self_replica: bool) -> Plan {
    Plan::BadRestart(BadConfig { aof, self_replica }, nodes)
}

fn one(mut nodes: Vec<String>) -> String {
    nodes.swap_remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn view(postgres: bool) -> View {
        let redis: Vec<String> = (0..3).map(|i| format!("redis-{i}")).collect();
        let mut all = redis.clone();
        if postgres {
            all.push("postgres".into());
        }
        View { master: "redis-0".into(), redis, all, sentinels: vec![] }
    }

    fn plan(fault: Fault, view: &View) -> Result<Plan, NemesisError> {
        Plan::new(&fault, view, &mut ChaCha8Rng::seed_from_u64(5))
    }

    #[test]
    fn cutting_the_replicas_targets_every_redis_node() {
        let plan = plan(Fault::PartitionReplicas, &view(true)).unwrap();
        assert_eq!(plan.targets(), ["redis-0", "redis-1", "redis-2"]);
        let Plan::Cut(grudge) = plan else { panic!("not a cut") };
        assert_eq!(grudge::cut_pairs(&grudge).len(), 4);
    }

    #[test]
    fn isolating_the_master_takes_a_minority_of_the_sentinels_with_it() {
        let sentinels: Vec<String> = (0..3).map(|i| format!("sentinel-{i}")).collect();
        let mut with = view(true);
        with.all.extend(sentinels.iter().cloned());
        with.sentinels = sentinels;
        let Plan::IsolateMaster(old, grudge) = plan(Fault::IsolateMaster, &with).unwrap() else {
            panic!("not an isolation")
        };
        assert_eq!(old, "redis-0");
        let minority: Vec<&String> = grudge
            .keys()
            .filter(|n| {
                n.starts_with("sentinel") && grudge[*n].contains(&Peer::Node("redis-1".into()))
            })
            .collect();
        assert_eq!(minority.len(), 1, "one sentinel beside the master: {grudge:?}");
        assert!(grudge["redis-0"].contains(&Peer::Node("redis-1".into())));
        assert!(!grudge["redis-0"].contains(&Peer::Node(minority[0].clone())));
        assert!(!grudge.contains_key("postgres"), "Postgres and clients stay reachable");
        assert!(matches!(plan(Fault::IsolateMaster, &view(true)), Err(NemesisError::NoTarget(_))));
    }

    #[test]
    fn isolating_two_nodes_cuts_each_from_everyone() {
        let fault = Fault::Isolate { target: Target::nodes(["redis-1", "redis-2"]) };
        let Plan::Cut(grudge) = plan(fault, &view(false)).unwrap() else { panic!("not a cut") };
        assert_eq!(grudge::cut_pairs(&grudge).len(), 6, "{grudge:?}");
    }

    #[test]
    fn faults_that_cannot_apply_are_refused_before_anything_happens() {
        let two = View { redis: vec!["redis-0".into(), "redis-1".into()], ..view(true) };
        assert!(matches!(plan(Fault::PartitionBridge, &two), Err(NemesisError::NoTarget(_))));
        let err = plan(Fault::PostgresAsyncCommit, &view(false));
        assert!(matches!(err, Err(NemesisError::NoTarget(_))));
        let pg = Fault::RestartSelfReplica { target: Target::Node("postgres".into()) };
        assert!(matches!(plan(pg, &view(true)), Err(NemesisError::NoTarget(_))));
    }

    #[test]
    fn a_gateway_fault_targets_the_gateway() {
        let plan = plan(Fault::GatewayLostResponse, &view(true)).unwrap();
        assert_eq!(plan.targets(), ["gateway"]);
        assert!(matches!(plan, Plan::Gateway(GatewayFault::LostResponse)));
    }

    #[test]
    fn the_service_is_cut_from_every_store_and_the_gateway_or_what_is_named() {
        let all = plan(Fault::PartitionService { from: None }, &view(true)).unwrap();
        let expected = ["gateway", "postgres", "redis-0", "redis-1", "redis-2", "service"];
        assert_eq!(all.targets(), expected);
        let from = Target::nodes(["postgres"]);
        let pg = plan(Fault::PartitionService { from: Some(from) }, &view(true)).unwrap();
        assert_eq!(pg.targets(), ["postgres", "service"]);
        let from = Target::Node("gateway".into());
        let gw = plan(Fault::PartitionService { from: Some(from) }, &view(true)).unwrap();
        assert!(matches!(&gw, Plan::CutService(stores, true) if stores.is_empty()));
        let from = Some(Target::master());
        let master = plan(Fault::PartitionService { from }, &view(true)).unwrap();
        assert_eq!(master.targets(), ["redis-0", "service"]);
    }

    #[test]
    fn the_clients_can_be_cut_from_postgres_and_a_failover_promotes_a_replica() {
        let fault = Fault::PartitionClients { target: Target::Node("postgres".into()) };
        assert_eq!(plan(fault, &view(true)).unwrap().targets(), ["postgres"]);
        let failover = plan(Fault::Failover { target: Target::replica() }, &view(true)).unwrap();
        let Plan::Failover(node) = failover else { panic!("not a failover") };
        assert_ne!(node, "redis-0");
    }
}
