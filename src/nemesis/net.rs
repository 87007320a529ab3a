//! Partitions and shaping on the real network: iptables rules inside the nodes, each
//! tagged with the fault that added it; disconnecting nodes where iptables cannot run;
//! tc netem where the kernel has it.
//!
//! Every rule lives in faultline's own chain, `FAULTLINE`, which INPUT jumps to (a rule
//! tagged `faultline-jump`): `-A FAULTLINE -s <peer> -m comment --comment faultline-<id>
//! -j DROP`, so a heal deletes exactly the rules of its fault, the final sweep every rule
//! tagged `faultline-`, and on hosts the dead-man switch flushes the chain. Rules live in the node's network namespace, which a restart replaces:
//! when the nemesis restarts a node it puts back the rules active partitions hold there
//! ([`reapply`]).

use super::NemesisError;
use super::grudge::{self, Grudge, Peer};
use super::observe;
use crate::cluster::Cluster;
use futures::future::{join_all, try_join_all};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// How partitions are made on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionMethod {
    /// iptables rules inside the nodes: any grudge, one direction, one peer.
    Iptables,
    /// Nodes taken off the network: coarse (a node loses every peer and the clients),
    /// used when iptables cannot run inside containers. Carries why.
    Disconnect(String),
}

impl PartitionMethod {
    /// iptables when it works inside `node`, otherwise the fallback, saying why.
    pub(crate) async fn detect(cluster: &Cluster, node: &str) -> Result<Self, NemesisError> {
        let out = cluster.exec(node, &["iptables", "-w", "-S", "INPUT"]).await?;
        Ok(match out.success() {
            true => PartitionMethod::Iptables,
            false => PartitionMethod::Disconnect(format!(
                "iptables does not work inside the containers (exit {}: {}); partitions \
                 fall back to disconnecting nodes from the network",
                out.code,
                out.stderr.trim()
            )),
        })
    }
}

/// A partition in place: what its heal needs.
#[derive(Debug)]
pub(crate) struct Cut {
    pub(crate) tag: String,
    pub(crate) grudge: Grudge,
    /// Nodes taken off the network (the fallback).
    pub(crate) disconnected: Vec<String>,
    /// Every node's address on the run's network, as it was when the cut was made.
    pub(crate) ips: BTreeMap<String, IpAddr>,
}

/// Makes `grudge` real, then probes every cut pair: `effect` says which pairs were seen
/// cut and which stayed open.
pub(crate) async fn cut(
    cluster: &Cluster,
    method: &PartitionMethod,
    id: u32,
    grudge: Grudge,
) -> Result<(Cut, Value, bool), NemesisError> {
    let ips = addresses(cluster).await?;
    let grudge = restrict(grudge, &ips);
    let gateway = cluster.clients_ip().await?;
    let tag = format!("faultline-{id}");
    let mut disconnected = Vec::new();
    let rules = match method {
        PartitionMethod::Iptables => {
            let adds = grudge.iter().map(|(node, peers)| async {
                let script = rule_script(peers, &ips, &gateway, port(cluster, node)?, &tag);
                run_script(cluster, node, script).await
            });
            try_join_all(adds).await?;
            grudge.values().map(|p| p.len()).sum::<usize>()
        }
        PartitionMethod::Disconnect(_) => {
            disconnected = grudge::disconnect_cover(&grudge);
            try_join_all(disconnected.iter().map(|n| cluster.disconnect(n))).await?;
            0
        }
    };
    let cut = Cut { tag, grudge, disconnected, ips };
    let (seen_cut, open) = probe(cluster, &cut).await?;
    let method_name = match method {
        PartitionMethod::Iptables => "iptables",
        PartitionMethod::Disconnect(_) => "disconnect",
    };
    let observed = open.is_empty() && !seen_cut.is_empty();
    let effect = json!({
        "method": method_name,
        "rules": rules,
        "disconnected": cut.disconnected,
        "cut": seen_cut,
        "open": open,
    });
    Ok((cut, effect, observed))
}

/// The rules that make `node` drop `peers`, tagged `tag`, as one script.
///
/// The clients are cut from the node's server port only (`port`): on hosts the
/// harness's SSH sessions come from the clients' address too, and must not be cut.
pub(crate) fn rule_script(
    peers: &BTreeSet<Peer>,
    ips: &BTreeMap<String, IpAddr>,
    gateway: &dyn std::fmt::Display,
    port: u16,
    tag: &str,
) -> String {
    let rule = |source: String| {
        format!("iptables -w -A {CHAIN} {source} -m comment --comment {tag} -j DROP")
    };
    let rules = peers.iter().filter_map(|p| match p {
        Peer::Node(n) => ips.get(n).map(|ip| rule(format!("-s {ip}"))),
        Peer::Clients => Some(rule(format!("-s {gateway} -p tcp --dport {port}"))),
    });
    std::iter::once(chain_script()).chain(rules).collect::<Vec<_>>().join(" && ")
}

/// The port `node`'s server listens on.
fn port(cluster: &Cluster, node: &str) -> Result<u16, NemesisError> {
    Ok(cluster.kind(node)?.port())
}

/// The iptables chain every rule of faultline's lives in, jumped to from INPUT.
pub(crate) const CHAIN: &str = "FAULTLINE";

/// Creates [`CHAIN`] and its jump from INPUT (tagged `faultline-jump`) where missing.
fn chain_script() -> String {
    format!(
        "{{ iptables -w -n -L {CHAIN} >/dev/null 2>&1 || iptables -w -N {CHAIN}; }} && \
         {{ iptables -w -C INPUT -m comment --comment faultline-jump -j {CHAIN} 2>/dev/null || \
         iptables -w -I INPUT -m comment --comment faultline-jump -j {CHAIN}; }}"
    )
}

/// Puts `node`'s rules of `cut` back after the node restarted: a restart gives a
/// container a new network namespace, without them. Returns how many were added; a peer
/// that changed its address since the cut is dropped at its new one.
pub(crate) async fn reapply(
    cluster: &Cluster,
    cut: &Cut,
    node: &str,
) -> Result<usize, NemesisError> {
    let Some(peers) = cut.grudge.get(node) else { return Ok(0) };
    if !cut.disconnected.is_empty() || cluster.rules_survive_restart() {
        // A disconnected node stays disconnected across restarts; a host keeps its rules.
        return Ok(0);
    }
    let mut ips = addresses(cluster).await?;
    // A peer that is no node of the cluster (the service's container) keeps its address.
    for (name, ip) in &cut.ips {
        ips.entry(name.clone()).or_insert(*ip);
    }
    let gateway = cluster.clients_ip().await?;
    let script = rule_script(peers, &ips, &gateway, port(cluster, node)?, &cut.tag);
    run_script(cluster, node, script).await?;
    Ok(peers.len())
}

/// Leaves out nodes that have no address (they are down): they cannot take rules.
fn restrict(mut grudge: Grudge, ips: &BTreeMap<String, IpAddr>) -> Grudge {
    grudge.retain(|node, peers| {
        peers.retain(|p| match p {
            Peer::Node(n) => ips.contains_key(n),
            Peer::Clients => true,
        });
        ips.contains_key(node) && !peers.is_empty()
    });
    grudge
}

/// Probes every pair the cut should sever: `(cut, open)` as `"src->dst"` strings.
async fn probe(cluster: &Cluster, cut: &Cut) -> Result<(Vec<String>, Vec<String>), NemesisError> {
    let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut client_targets = Vec::new();
    for (src, dst) in grudge::cut_pairs(&cut.grudge) {
        match src {
            Peer::Node(src) => by_source.entry(src).or_default().push(dst),
            Peer::Clients => client_targets.push(dst),
        }
    }
    let node_probes = by_source.iter().map(|(src, dsts)| async move {
        let addrs: Vec<SocketAddr> =
            dsts.iter().map(|d| observe::service_addr(cluster, d, cut.ips[d])).collect();
        let open = observe::tcp_open(cluster, src, &addrs).await?;
        Ok::<_, NemesisError>(dsts.iter().zip(open).map(move |(d, o)| (format!("{src}->{d}"), o)))
    });
    let mut results: Vec<(String, bool)> =
        try_join_all(node_probes).await?.into_iter().flatten().collect();
    let client_probes = client_targets.iter().map(|d| observe::answers(cluster, d));
    let client_open = join_all(client_probes).await;
    results
        .extend(client_targets.iter().zip(client_open).map(|(d, o)| (format!("clients->{d}"), o)));
    let (open, seen_cut): (Vec<_>, Vec<_>) = results.into_iter().partition(|(_, o)| *o);
    Ok((seen_cut.into_iter().map(|p| p.0).collect(), open.into_iter().map(|p| p.0).collect()))
}

/// Undoes a cut: deletes its rules on every node that still runs (a restarted node lost
/// them with its namespace), or puts disconnected nodes back. Returns the rules left.
pub(crate) async fn heal(cluster: &Cluster, cut: &Cut) -> Result<usize, NemesisError> {
    try_join_all(cut.disconnected.iter().map(|n| cluster.reconnect(n))).await?;
    let removals = cut.grudge.keys().map(|node| async move {
        let state = cluster.state(node).await?;
        // A stopped container took its rules with its network namespace; a host keeps
        // them whether its server runs or not.
        let rules_gone = !state.running && !cluster.rules_survive_restart();
        if rules_gone || !cut.disconnected.is_empty() {
            return Ok(0);
        }
        if state.paused {
            return Err(NemesisError::Paused(node.clone()));
        }
        remove_rules(cluster, node, &format!("{} ", cut.tag)).await
    });
    Ok(try_join_all(removals).await?.into_iter().sum())
}

/// Deletes every INPUT/OUTPUT rule of `node` whose comment starts with `prefix` and
/// returns how many matching rules are left (0 unless a deletion failed).
pub(crate) async fn remove_rules(
    cluster: &Cluster,
    node: &str,
    prefix: &str,
) -> Result<usize, NemesisError> {
    let left = run_script(cluster, node, removal_script(prefix)).await?;
    Ok(left.trim().parse().unwrap_or(usize::MAX))
}

/// A script that deletes every rule whose comment starts with `prefix` and prints how
/// many such rules are left.
pub(crate) fn removal_script(prefix: &str) -> String {
    format!(
        "iptables -w -S | grep -F -- '--comment {prefix}' | sed 's/^-A /-D /' | \
         while read -r rule; do iptables -w $rule; done; \
         iptables -w -S | grep -c -F -- '--comment {prefix}' || true"
    )
}

/// Whether this kernel has tc netem, tried inside `node`: `Err` carries tc's refusal.
pub(crate) async fn netem_support(
    cluster: &Cluster,
    node: &str,
) -> Result<Result<(), String>, NemesisError> {
    let i = cluster.interface(node)?;
    let script = format!("tc qdisc add dev {i} root netem delay 1ms && tc qdisc del dev {i} root");
    let out = cluster.exec(node, &["sh", "-c", &script]).await?;
    Ok(match out.success() {
        true => Ok(()),
        false => Err(format!("tc netem is not available on this kernel: {}", out.stderr.trim())),
    })
}

/// Adds a netem qdisc with `args` (e.g. `delay 100ms`) on `node`'s interface.
pub(crate) async fn add_netem(
    cluster: &Cluster,
    node: &str,
    args: &str,
) -> Result<(), NemesisError> {
    let i = cluster.interface(node)?;
    run_script(cluster, node, format!("tc qdisc add dev {i} root netem {args}")).await.map(drop)
}

/// Removes a netem qdisc from `node` if it has one; whether it had.
pub(crate) async fn remove_netem(cluster: &Cluster, node: &str) -> Result<bool, NemesisError> {
    let i = cluster.interface(node)?;
    let script = format!(
        "if tc qdisc show dev {i} | grep -q netem; then tc qdisc del dev {i} root && echo removed; fi"
    );
    Ok(run_script(cluster, node, script).await?.contains("removed"))
}

/// Every node's address on the run's network (nodes that are down are left out).
pub(crate) async fn addresses(cluster: &Cluster) -> Result<BTreeMap<String, IpAddr>, NemesisError> {
    let names = cluster.node_names();
    let ips = join_all(names.iter().map(|n| cluster.ip(n))).await;
    Ok(names.into_iter().zip(ips).filter_map(|(n, ip)| Some((n, ip.ok()?))).collect())
}

pub(crate) async fn run_script(
    cluster: &Cluster,
    node: &str,
    script: String,
) -> Result<String, NemesisError> {
    let out = cluster.exec(node, &["sh", "-c", &script]).await?;
    match out.success() {
        true => Ok(out.stdout),
        false => Err(NemesisError::command(node, &script, out.code, &out.stderr)),
    }
}
