//! What parsing cannot check: faults' targets must exist in the topology, the workload
//! needs what it uses (Postgres for billing; the card gateway, which only billing has,
//! for the `gateway-*` faults; a service run as a container for `partition-service`),
//! `[sut]` names exactly one way to run the service, and the schedule must fit the
//! clients' time limit. Each error points at the key or value that causes it.
//!
//! **What fits.** A scheduled fault fits when it starts before the clients stop (`at` <
//! time limit): the nemesis starts no fault once the clients have stopped, so a later
//! one would never run. A fault may hold past the end (its `duration` running beyond
//! the time limit, or none): it is healed when the clients stop, like every fault. A
//! random schedule fits when its `length` is at most the time limit, since it draws
//! faults up to its length, and draws at least one fault (a run would test nothing).

use super::{ClusterSpec, Scenario, ScenarioError, WorkloadKind};
use crate::nemesis::{Fault, Selector, Target};
use std::time::Duration;
use workloads::register::ReadFrom;

/// Where the clients' time limit came from, for the error that names it.
pub(super) enum LimitFrom {
    /// The scenario's workload table.
    File,
    /// `--time-limit`.
    CommandLine,
}

/// Checks `scenario` against its topology, its workload and its time limit.
pub(super) fn validate(scenario: &Scenario, limit: LimitFrom) -> Result<(), ScenarioError> {
    topology(scenario)?;
    workload(scenario)?;
    sut(scenario)?;
    fits(scenario, limit)
}

/// `[sut]` names exactly one of `command`, `image`, `build`, and a fault that needs the
/// service as a container does not meet a service process.
fn sut(s: &Scenario) -> Result<(), ScenarioError> {
    let Some(sut) = &s.sut else { return Ok(()) };
    sut.check().map_err(|(key, message)| match key {
        "" => s.source.error(&["sut"], message),
        key => s.source.error(&["sut", key], message),
    })?;
    if sut.is_container() {
        return Ok(());
    }
    let scripted = s
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| (vec!["faults".to_string(), i.to_string()], &f.fault));
    let random = s.random.iter().flat_map(|r| {
        r.faults
            .iter()
            .enumerate()
            .map(|(i, f)| (vec!["random".to_string(), "faults".to_string(), i.to_string()], f))
    });
    for (mut at, fault) in scripted.chain(random) {
        if fault.needs_service_container() {
            at.push("fault".to_string());
            let at: Vec<&str> = at.iter().map(String::as_str).collect();
            let what = format!("the process `{}`", sut.describe());
            return Err(s.source.error(&at, needs_container(fault, &what)));
        }
    }
    Ok(())
}

/// Why `fault` cannot run against the service run by `what` (a process, or a built-in
/// system): it needs the service as a container.
pub fn needs_container(fault: &Fault, what: &str) -> String {
    format!(
        "fault {:?} cuts the service's container from the stores and the gateway, and this \
         run's service is {what}, which has no network of its own to cut: run the service \
         as a container ([sut] image = \"name:tag\" or build = \"dir\"; --service-image, \
         --service-build), or remove the fault",
        fault.name()
    )
}

fn topology(s: &Scenario) -> Result<(), ScenarioError> {
    if let Some(problem) = s.cluster.sentinel.problem(s.cluster.sentinels) {
        let key = if problem.starts_with("sentinels") { "sentinels" } else { "sentinel" };
        return Err(s.source.error(&["cluster", key], problem));
    }
    let nodes = s.cluster.node_names();
    for (i, fault) in s.faults.iter().enumerate() {
        check_fault(&fault.fault, &s.cluster, &nodes)
            .map_err(|(key, m)| s.source.error(&["faults", &i.to_string(), key], m))?;
    }
    if let Some(random) = &s.random {
        for (i, fault) in random.faults.iter().enumerate() {
            check_fault(fault, &s.cluster, &nodes).map_err(|(key, m)| {
                s.source.error(&["random", "faults", &i.to_string(), key], m)
            })?;
        }
    }
    Ok(())
}

fn workload(s: &Scenario) -> Result<(), ScenarioError> {
    gateway_faults(s)?;
    service(s)?;
    if s.workload == WorkloadKind::Billing && !s.cluster.postgres {
        let message =
            "the billing workload keeps its ledger in Postgres: set cluster.postgres = true";
        return Err(s.source.error(&["cluster", "postgres"], message.into()));
    }
    billing_settings(s)?;
    register_settings(s)?;
    let tables = [
        (WorkloadKind::Billing, "billing", s.billing.is_some()),
        (WorkloadKind::Counter, "counter", s.counter.is_some()),
        (WorkloadKind::Register, "register", s.register.is_some()),
        (WorkloadKind::Set, "set", s.set.is_some()),
    ];
    match tables.iter().find(|(kind, _, present)| *present && *kind != s.workload) {
        Some((_, table, _)) => Err(s.source.error(
            &[table],
            format!("a [{table}] table is given, but workload = {:?}", s.workload.name()),
        )),
        None => Ok(()),
    }
}

/// The billing settings make sense (what the workload would refuse when it sets up,
/// after the cluster started): accounts and workers, the mix, the amounts, the recharge.
fn billing_settings(s: &Scenario) -> Result<(), ScenarioError> {
    let (WorkloadKind::Billing, Some(config)) = (s.workload, &s.billing) else { return Ok(()) };
    config.validate().map_err(|e| match e {
        workloads::WorkloadError::Config(why) => s.source.error(&["billing"], why),
        other => s.source.error(&["billing"], other.to_string()),
    })
}

/// The register settings make sense, and reads from replicas have a replica to read.
fn register_settings(s: &Scenario) -> Result<(), ScenarioError> {
    let (WorkloadKind::Register, Some(config)) = (s.workload, &s.register) else { return Ok(()) };
    if let Err(e) = config.validate() {
        return Err(s.source.error(&["register"], e.to_string()));
    }
    if config.read_from == ReadFrom::Replicas && s.cluster.redis_replicas == 0 {
        let message = "read_from = \"replicas\" needs a replica: set cluster.redis_replicas";
        return Err(s.source.error(&["register", "read_from"], message.into()));
    }
    Ok(())
}

/// Refuses a `gateway-*` fault where the workload has no card gateway.
fn gateway_faults(s: &Scenario) -> Result<(), ScenarioError> {
    if s.workload == WorkloadKind::Billing {
        return Ok(());
    }
    let message = |fault: &Fault| {
        format!(
            "fault {:?} acts on the card gateway, which only the billing workload has (workload = \
             {:?}): remove it, or run the billing workload",
            fault.name(),
            s.workload.name()
        )
    };
    for (i, fault) in s.faults.iter().enumerate() {
        let fault = &fault.fault;
        if fault.gateway().is_some() {
            return Err(s.source.error(&["faults", &i.to_string(), "fault"], message(fault)));
        }
    }
    if let Some(random) = &s.random {
        for (i, fault) in random.faults.iter().enumerate() {
            if fault.gateway().is_some() {
                let at = ["random", "faults", &i.to_string(), "fault"];
                return Err(s.source.error(&at, message(fault)));
            }
        }
    }
    Ok(())
}

/// Only the billing workload drives a service (what `[sut]` itself must hold is
/// checked with the topology).
fn service(s: &Scenario) -> Result<(), ScenarioError> {
    if s.sut.is_some() && s.workload != WorkloadKind::Billing {
        let message = "a service under test ([sut]) is driven by the billing workload: remove \
                       [sut], or set workload = \"billing\"";
        return Err(s.source.error(&["sut"], message.into()));
    }
    Ok(())
}

/// Refuses a service fault in a run that starts no service (it runs `sut`, a system
/// in process): the fault could never take effect.
pub(super) fn service_faults(s: &Scenario, sut: &str) -> Result<(), ScenarioError> {
    let message = |fault: &Fault| {
        format!(
            "fault {:?} acts on a service under test, but this run tests {sut:?}, which runs \
             inside faultline: give the scenario a [sut] command, or run with --service",
            fault.name()
        )
    };
    for (i, fault) in s.faults.iter().enumerate() {
        let fault = &fault.fault;
        if fault.service().is_some() {
            return Err(s.source.error(&["faults", &i.to_string(), "fault"], message(fault)));
        }
    }
    if let Some(random) = &s.random {
        for (i, fault) in random.faults.iter().enumerate() {
            if fault.service().is_some() {
                let at = ["random", "faults", &i.to_string(), "fault"];
                return Err(s.source.error(&at, message(fault)));
            }
        }
    }
    Ok(())
}

fn fits(s: &Scenario, from: LimitFrom) -> Result<(), ScenarioError> {
    let limit = s.workload().clients().time_limit;
    let named = match from {
        LimitFrom::File => format!("{}.clients.time_limit = {}", s.workload.name(), show(limit)),
        LimitFrom::CommandLine => format!("--time-limit {}", show(limit)),
    };
    for (step, fault) in s.faults.iter().enumerate() {
        if fault.at >= limit {
            let message = format!(
                "fault {:?} (step {step}) starts at {}, but the clients stop at {} ({named}): \
                 it would never start. Start it earlier or give the clients longer",
                fault.fault.name(),
                show(fault.at),
                show(limit),
            );
            return Err(s.source.error(&["faults", &step.to_string(), "at"], message));
        }
    }
    match &s.random {
        Some(random) if random.length > limit => Err(s.source.error(
            &["random", "length"],
            format!(
                "the random schedule draws faults for {}, but the clients stop at {} ({named}): \
                 the later ones would never start. Shorten `length` or give the clients longer",
                show(random.length),
                show(limit),
            ),
        )),
        Some(random) if random.draw(s.seed).random.is_empty() => Err(s.source.error(
            &["random", "length"],
            format!(
                "the random schedule draws no fault: one starts every {} from {} on and must heal \
                 before `length` ({}), so a run would test nothing. Make `length` at least twice \
                 `interval`, and list at least one fault",
                show(random.interval),
                show(random.interval),
                show(random.length),
            ),
        )),
        _ => Ok(()),
    }
}

fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The key of the fault's table at fault, and why, if `fault` cannot run on `cluster`.
fn check_fault(
    fault: &Fault,
    cluster: &ClusterSpec,
    nodes: &[String],
) -> Result<(), (&'static str, String)> {
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
        return Err((
            "fault",
            format!(
                "fault {name:?} needs at least one Redis replica, and cluster.redis_replicas = 0"
            ),
        ));
    }
    if matches!(fault, Fault::IsolateMaster) && cluster.sentinels == 0 {
        return Err((
            "fault",
            format!(
                "fault {name:?} cuts the master off with a minority of Redis Sentinel's nodes, and this \
                 cluster has none: set cluster.sentinels = 3"
            ),
        ));
    }
    if matches!(fault, Fault::Failover { .. } | Fault::SplitBrain { .. }) && cluster.sentinels > 0 {
        return Err((
            "fault",
            format!(
                "fault {name:?} promotes a replica by hand, and in this cluster Sentinel decides \
                 who is master (the two would fight): use \"isolate-master\", or kill the master \
                 and let Sentinel fail over"
            ),
        ));
    }
    if matches!(fault, Fault::PostgresAsyncCommit) && !cluster.postgres {
        return Err((
            "fault",
            format!("fault {name:?} needs Postgres, and cluster.postgres = false"),
        ));
    }
    if let Fault::PartitionService { from: Some(from) } = fault {
        let mut peers = nodes.to_vec();
        peers.push(crate::nemesis::fault::GATEWAY.to_string());
        return check_target(name, from, cluster, &peers).map_err(|m| ("from", m));
    }
    for target in fault.targets() {
        check_target(name, target, cluster, nodes).map_err(|m| ("target", m))?;
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
