//! What "as the cluster started" means after faults: every node's good config (its
//! original one, with `replicaof` naming the current master), one master with every
//! replica linked to it, and the sweep that puts all of it back at the end of a run.
//!
//! Data cannot be restored; topology and configuration can. A node healed after a
//! failover rejoins as a replica of the current master.

use super::{NemesisError, net, observe};
use crate::cluster::Cluster;
use futures::future::join_all;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The configuration files and runtime settings the cluster started with.
#[derive(Clone, Debug)]
pub(crate) struct Baseline {
    configs: BTreeMap<String, String>,
    output_buffer_limits: BTreeMap<String, String>,
}

/// The runtime setting resync loops change.
const OBUF: &str = "client-output-buffer-limit";

impl Baseline {
    pub(crate) async fn capture(cluster: &Cluster) -> Result<Baseline, NemesisError> {
        let mut configs = BTreeMap::new();
        for node in cluster.node_names() {
            configs.insert(node.clone(), cluster.config_text(&node)?);
        }
        let mut output_buffer_limits = BTreeMap::new();
        for node in cluster.redis_nodes() {
            output_buffer_limits.insert(node.clone(), config_get(cluster, &node, OBUF).await?);
        }
        Ok(Baseline { configs, output_buffer_limits })
    }

    /// `node`'s original config, its role set by the current master.
    pub(crate) fn good_config(
        &self,
        cluster: &Cluster,
        node: &str,
    ) -> Result<String, NemesisError> {
        let original = self.configs.get(node).ok_or_else(|| NemesisError::NoTarget(node.into()))?;
        if !is_redis(cluster, node) {
            return Ok(original.clone());
        }
        let master = cluster.master();
        let replicaof = match master == node {
            true => None,
            false => Some(format!("{} 6379", master_host(cluster, &master)?)),
        };
        Ok(set_directive(original, "replicaof", replicaof.as_deref()))
    }

    /// `node`'s `client-output-buffer-limit` as the run started.
    pub(crate) fn output_buffer_limit(&self, node: &str) -> Option<&str> {
        self.output_buffer_limits.get(node).map(String::as_str)
    }
}

/// How replicas name `master`: by its container name (or host address), or, with Sentinel, by the address
/// Sentinel knows it by, so that the nemesis and Sentinel agree (Sentinel points
/// replicas by address, and a replica pointed by name would look repointed to it).
pub(crate) fn master_host(cluster: &Cluster, master: &str) -> Result<String, NemesisError> {
    match cluster.announced_ip(master) {
        Some(ip) => Ok(ip.to_string()),
        None => Ok(cluster.peer_host(master)?),
    }
}

pub(crate) fn is_redis(cluster: &Cluster, node: &str) -> bool {
    cluster.redis_nodes().iter().any(|n| n == node)
}

/// `CONFIG GET key` on a Redis node: the value.
pub(crate) async fn config_get(
    cluster: &Cluster,
    node: &str,
    key: &str,
) -> Result<String, NemesisError> {
    let reply = observe::redis(cluster, node, &["CONFIG", "GET", key]).await?;
    Ok(reply.lines().nth(1).unwrap_or_default().to_string())
}

/// `text` (a redis.conf) with directive `key` set to `value`, or removed with `None`.
pub(crate) fn set_directive(text: &str, key: &str, value: Option<&str>) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| line.split_whitespace().next() != Some(key))
        .map(str::to_string)
        .collect();
    if let Some(value) = value {
        lines.push(format!("{key} {value}"));
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `text` (postgresql.conf settings) with `key` set to `value`.
pub(crate) fn set_setting(text: &str, key: &str, value: &str) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| line.split('=').next().map(str::trim) != Some(key))
        .map(str::to_string)
        .collect();
    lines.push(format!("{key} = '{value}'"));
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Puts a running Redis node in the role the current master gives it, in its config
/// file and at runtime. Returns its role as JSON.
pub(crate) async fn rejoin(
    cluster: &Cluster,
    baseline: &Baseline,
    node: &str,
) -> Result<Value, NemesisError> {
    let good = baseline.good_config(cluster, node)?;
    if cluster.config_text(node)? != good {
        cluster.set_config(node, &good).await?;
    }
    let master = cluster.master();
    let role = observe::role(cluster, node).await?;
    if node == master {
        if role["role"] == "replica" {
            observe::redis(cluster, node, &["REPLICAOF", "NO", "ONE"]).await?;
        }
    } else {
        let host = master_host(cluster, &master)?;
        if role["role"] != "replica" || role["master_host"] != host.as_str() {
            observe::redis(cluster, node, &["REPLICAOF", &host, "6379"]).await?;
        }
    }
    observe::role(cluster, node).await
}

/// Makes `new` the master everywhere: it stops replicating, every other running Redis
/// node replicates it, the config files say so, and clients follow. Returns the nodes
/// repointed.
pub(crate) async fn promote(
    cluster: &Cluster,
    baseline: &Baseline,
    new: &str,
) -> Result<Vec<String>, NemesisError> {
    observe::redis(cluster, new, &["REPLICAOF", "NO", "ONE"]).await?;
    cluster.set_master(new)?;
    let mut repointed = Vec::new();
    for node in cluster.redis_nodes() {
        let state = cluster.state(&node).await?;
        if state.running && !state.paused {
            rejoin(cluster, baseline, &node).await?;
            repointed.push(node);
        }
    }
    Ok(repointed)
}

/// Waits until every replica's link to the master is up and no sync is in progress, on
/// both sides: each replica reports its link up, and the master counts every replica
/// online. A replica alone can be stale: cut off, it shows its link up until
/// `repl-timeout` passes, although the master dropped it long before.
/// `None` if `within` passes first.
pub(crate) async fn converged(cluster: &Cluster, within: Duration) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    loop {
        let replicas = cluster.replicas();
        let links = join_all(replicas.iter().map(|r| async move {
            let text = observe::redis(cluster, r, &["INFO", "replication"]).await.ok()?;
            let field = |f| crate::cluster::info_field(&text, f);
            Some(field("master_link_status")? == "up" && field("master_sync_in_progress")? == "0")
        }))
        .await;
        let master = observe::redis(cluster, &cluster.master(), &["INFO", "replication"]).await;
        let online = master.map_or(0, |text| text.matches("state=online").count());
        if links.iter().all(|l| *l == Some(true)) && online >= replicas.len() {
            return Some(started.elapsed());
        }
        if started.elapsed() >= within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Puts the cluster back as it started, from what it is now rather than from what the
/// nemesis remembers: every node running, thawed and on the network; no rule or qdisc
/// of faultline's; good configs; the master a master and every replica linked to it.
/// Returns what had to be fixed.
pub(crate) async fn sweep(
    cluster: &Cluster,
    baseline: &Baseline,
) -> Result<Vec<String>, NemesisError> {
    let mut fixed = Vec::new();
    for node in cluster.node_names() {
        let state = cluster.state(&node).await?;
        if state.paused {
            cluster.unpause(&node).await?;
            fixed.push(format!("resumed {node}"));
        }
        if !state.running {
            cluster.start(&node).await?;
            fixed.push(format!("started {node}"));
        }
        if !state.connected {
            cluster.reconnect(&node).await?;
            fixed.push(format!("reconnected {node}"));
        }
    }
    for node in cluster.node_names() {
        fixed.extend(sweep_node(cluster, baseline, &node).await?);
    }
    for node in cluster.redis_nodes() {
        let before = observe::role(cluster, &node).await?;
        let after = rejoin(cluster, baseline, &node).await?;
        if before != after {
            fixed.push(format!("{node}: {before} became {after}"));
        }
    }
    cluster.wait_replication(Duration::from_secs(60)).await?;
    Ok(fixed)
}

async fn sweep_node(
    cluster: &Cluster,
    baseline: &Baseline,
    node: &str,
) -> Result<Vec<String>, NemesisError> {
    let mut fixed = Vec::new();
    let rules = net::remove_rules(cluster, node, "faultline-").await?;
    if rules != 0 {
        return Err(NemesisError::NotHealed {
            fault: "heal-all",
            reason: format!("{rules} rules left in {node}"),
        });
    }
    if net::remove_netem(cluster, node).await? {
        fixed.push(format!("removed a netem qdisc from {node}"));
    }
    let good = baseline.good_config(cluster, node)?;
    let text = cluster.config_text(node)?;
    if text != good {
        let only_role =
            set_directive(&text, "replicaof", None) == set_directive(&good, "replicaof", None);
        if is_redis(cluster, node) && !only_role {
            cluster.restart_with_config(node, &good).await?;
            fixed.push(format!("restarted {node} with its good config"));
        } else {
            cluster.set_config(node, &good).await?;
            if cluster.kind(node)? == crate::cluster::NodeKind::Postgres {
                super::postgres::reload(cluster).await?;
            }
            fixed.push(format!("restored the config file of {node}"));
        }
    }
    if let Some(limit) = baseline.output_buffer_limit(node)
        && config_get(cluster, node, OBUF).await? != limit
    {
        observe::redis(cluster, node, &["CONFIG", "SET", OBUF, limit]).await?;
        fixed.push(format!("restored {OBUF} on {node}"));
    }
    Ok(fixed)
}

/// Whether every node is running, thawed, on the network and free of faultline's rules.
pub(crate) async fn clean(cluster: &Cluster) -> Result<Value, NemesisError> {
    let mut problems = Vec::new();
    for node in cluster.node_names() {
        let state = cluster.state(&node).await?;
        if !state.running || state.paused || !state.connected {
            problems.push(format!("{node}: {state:?}"));
            continue;
        }
        let rules = cluster.exec(&node, &["iptables", "-w", "-S"]).await?;
        if rules.stdout.contains("faultline-") {
            problems.push(format!("{node} still has faultline rules"));
        }
    }
    Ok(json!(problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directive_is_replaced_or_removed_wherever_it_is() {
        let text = "port 6379\nreplicaof old 6379\nappendonly no\n";
        assert_eq!(
            set_directive(text, "replicaof", Some("new 6379")),
            "port 6379\nappendonly no\nreplicaof new 6379\n"
        );
        assert_eq!(set_directive(text, "replicaof", None), "port 6379\nappendonly no\n");
        assert_eq!(
            set_directive(text, "appendonly", Some("yes")),
            "port 6379\nreplicaof old 6379\nappendonly yes\n"
        );
        assert_eq!(set_directive("repl-timeout 5\n", "repl", None), "repl-timeout 5\n");
    }

    #[test]
    fn a_postgres_setting_is_replaced_by_name() {
        let text = "synchronous_commit = 'on'\nfsync = 'on'\n";
        assert_eq!(
            set_setting(text, "synchronous_commit", "off"),
            "fsync = 'on'\nsynchronous_commit = 'off'\n"
        );
    }
}
