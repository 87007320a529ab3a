//! Faults on a node's process: kill -9, clean stop, restart, pause, and Redis restarts
//! with a bad config (the 2013 restart).

use super::interpreter::Outcome;
use super::topology::{self, Baseline, set_directive};
use super::{NemesisError, observe};
use crate::cluster::{Cluster, NodeKind};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// How a node goes down.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Down {
    /// SIGKILL.
    Kill,
    /// SIGTERM, then SIGKILL after 10 s.
    Stop,
}

/// DBSIZE of each Redis node among `nodes` that answers (others are left out).
async fn dbsizes(cluster: &Cluster, nodes: &[String]) -> Value {
    let mut sizes = Map::new();
    for node in nodes.iter().filter(|n| topology::is_redis(cluster, n)) {
        if let Ok(size) = observe::dbsize(cluster, node).await {
            sizes.insert(node.clone(), json!(size));
        }
    }
    Value::Object(sizes)
}

/// Takes `nodes` down; the intended effect is that clients get no answer from them.
pub(crate) async fn down(
    cluster: &Cluster,
    how: Down,
    nodes: &[String],
) -> Result<Outcome, NemesisError> {
    let before = dbsizes(cluster, nodes).await;
    for node in nodes {
        match how {
            Down::Kill => cluster.kill(node).await?,
            Down::Stop => cluster.stop(node).await?,
        }
    }
    let (any_answers, answers) = observe::answers_all(cluster, nodes).await;
    let mut effect = json!({ "dbsize_before": before, "answers": answers });
    if any_answers {
        effect["note"] = json!("a node still answered its clients");
    }
    Ok(Outcome::judged(effect, !any_answers))
}

/// Starts `nodes` again: each serves at its new address, in the role the current master
/// gives it.
pub(crate) async fn start(
    cluster: &Cluster,
    baseline: &Baseline,
    nodes: &[String],
) -> Result<Outcome, NemesisError> {
    for node in nodes {
        cluster.start(node).await?;
    }
    serving(cluster, baseline, nodes).await
}

/// Checks that `nodes` serve in their right role: the heal of faults with nothing to
/// undo.
pub(crate) async fn serving(
    cluster: &Cluster,
    baseline: &Baseline,
    nodes: &[String],
) -> Result<Outcome, NemesisError> {
    let mut roles = Map::new();
    for node in nodes.iter().filter(|n| topology::is_redis(cluster, n)) {
        roles.insert(node.clone(), topology::rejoin(cluster, baseline, node).await?);
    }
    let endpoints = cluster.endpoints().borrow().clone();
    let addrs: Map<String, Value> = nodes
        .iter()
        .map(|n| {
            let addr = match cluster.kind(n) {
                Ok(NodeKind::Sentinel) => cluster.sentinel_addr(n).ok(),
                _ => {
                    endpoints.redis.get(n).copied().or(endpoints.postgres.as_ref().map(|p| p.addr))
                }
            };
            (n.clone(), json!(addr.map(|a| a.to_string())))
        })
        .collect();
    let (_, answers) = observe::answers_all(cluster, nodes).await;
    let effect = json!({
        "addr": addrs,
        "dbsize_after": dbsizes(cluster, nodes).await,
        "role": roles,
        "answers": answers,
    });
    Ok(Outcome::unjudged(effect))
}

/// A clean restart of each node with its own config: Redis's `run_id` or Postgres's
/// start time must change.
pub(crate) async fn restart(
    cluster: &Cluster,
    baseline: &Baseline,
    nodes: &[String],
) -> Result<Outcome, NemesisError> {
    let before = dbsizes(cluster, nodes).await;
    let mut restarted = true;
    for node in nodes {
        let incarnation_before = incarnation(cluster, node).await?;
        match cluster.kind(node)? {
            NodeKind::Sentinel => cluster.restart(node).await?,
            _ => cluster.restart_with_config(node, &cluster.config_text(node)?).await?,
        }
        restarted &= incarnation(cluster, node).await? != incarnation_before;
    }
    let mut outcome = serving(cluster, baseline, nodes).await?;
    outcome.effect["dbsize_before"] = before;
    Ok(outcome.judge(restarted, "a node kept its process"))
}

async fn incarnation(cluster: &Cluster, node: &str) -> Result<String, NemesisError> {
    match cluster.kind(node)? {
        NodeKind::Redis | NodeKind::Sentinel => {
            Ok(observe::info(cluster, node, "server", "run_id").await?.unwrap_or_default())
        }
        NodeKind::Postgres => observe::psql(cluster, "SELECT pg_postmaster_start_time()").await,
    }
}

/// Freezes `nodes`: clients get no answer.
pub(crate) async fn pause(cluster: &Cluster, nodes: &[String]) -> Result<Outcome, NemesisError> {
    for node in nodes {
        cluster.pause(node).await?;
    }
    let (any_answers, answers) = observe::answers_all(cluster, nodes).await;
    let mut effect = json!({ "answers": answers });
    if any_answers {
        effect["note"] = json!("a paused node still answered its clients");
    }
    Ok(Outcome::judged(effect, !any_answers))
}

/// Thaws `nodes` and waits until each answers again.
pub(crate) async fn resume(cluster: &Cluster, nodes: &[String]) -> Result<Outcome, NemesisError> {
    for node in nodes {
        cluster.unpause(node).await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, answers) = observe::answers_all(cluster, nodes).await;
        let all =
            answers.as_object().is_some_and(|m| m.values().all(|a| a.as_bool() == Some(true)));
        if all {
            return Ok(Outcome::unjudged(json!({ "answers": answers })));
        }
        if tokio::time::Instant::now() >= deadline {
            let reason = format!("not every node answered 10 s after resuming: {answers}");
            return Err(NemesisError::NotHealed { fault: "pause", reason });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Which bad config a restart uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BadConfig {
    /// `appendonly yes` with no AOF on disk.
    pub(crate) aof: bool,
    /// `replicaof` the node itself.
    pub(crate) self_replica: bool,
}

/// SAVE (so dump.rdb holds the data), then a restart of each node with the bad config.
/// Records DBSIZE before and after, ROLE, and the first write's error.
pub(crate) async fn bad_restart(
    cluster: &Cluster,
    bad: BadConfig,
    nodes: &[String],
) -> Result<Outcome, NemesisError> {
    let mut effects = Map::new();
    let mut all_seen = true;
    let mut notes = Vec::new();
    for node in nodes {
        let (effect, seen) = bad_restart_one(cluster, bad, node).await?;
        if !seen {
            notes.push(format!("{node}: {}", effect["note"].as_str().unwrap_or("no effect")));
        }
        all_seen &= seen;
        effects.insert(node.clone(), effect);
    }
    let mut effect = Value::Object(effects);
    if !notes.is_empty() {
        effect["note"] = json!(notes.join("; "));
    }
    Ok(Outcome::judged(effect, all_seen))
}

async fn bad_restart_one(
    cluster: &Cluster,
    bad: BadConfig,
    node: &str,
) -> Result<(Value, bool), NemesisError> {
    observe::redis(cluster, node, &["SAVE"]).await?;
    let before = observe::dbsize(cluster, node).await?;
    let mut text = cluster.config_text(node)?;
    if bad.aof {
        let dir = topology::config_get(cluster, node, "dir").await?;
        let rm = format!("rm -rf {dir}/appendonlydir {dir}/appendonly.aof");
        cluster.exec(node, &["sh", "-c", &rm]).await?;
        text = set_directive(&text, "appendonly", Some("yes"));
    }
    if bad.self_replica {
        let own = format!("{} 6379", cluster.ip(node).await?);
        text = set_directive(&text, "replicaof", Some(&own));
    }
    cluster.restart_with_config(node, &text).await?;
    let after = observe::dbsize(cluster, node).await?;
    let write = observe::write_probe(cluster, node).await?;
    let aof_enabled = observe::info(cluster, node, "persistence", "aof_enabled").await?;
    let loaded = observe::info(cluster, node, "persistence", "rdb_last_load_keys_loaded").await?;
    let mut effect = json!({
        "dbsize_before": before,
        "dbsize_after": after,
        "role": observe::role(cluster, node).await?,
        "aof_enabled": aof_enabled,
        "rdb_last_load_keys_loaded": loaded,
        "first_write_error": write.as_ref().err(),
    });
    let emptied = before > 0 && after == 0;
    let read_only = write.as_ref().is_err_and(|e| e.starts_with("READONLY"));
    let mut notes = Vec::new();
    if bad.aof && !emptied {
        notes.push(format!("came back with {after} of {before} keys"));
    }
    if bad.self_replica && !read_only {
        notes.push("still accepted a write".to_string());
    }
    if !notes.is_empty() {
        effect["note"] = json!(notes.join(", "));
    }
    Ok((effect, notes.is_empty()))
}

/// Restarts each node with its good config (removing the AOF the bad one created) and
/// puts it back in its role.
pub(crate) async fn good_restart(
    cluster: &Cluster,
    baseline: &Baseline,
    nodes: &[String],
) -> Result<Outcome, NemesisError> {
    let mut declared = Vec::new();
    for node in nodes {
        let good = baseline.good_config(cluster, node)?;
        cluster.restart_with_config(node, &good).await?;
        let dir = topology::config_get(cluster, node, "dir").await?;
        cluster.exec(node, &["sh", "-c", &format!("rm -rf {dir}/appendonlydir")]).await?;
        let loaded =
            observe::info(cluster, node, "persistence", "rdb_last_load_keys_loaded").await?;
        declared.push(format!(
            "{node} restarted from the snapshot saved when the fault started ({} keys loaded): \
             a rollback of its data to then, unless it resyncs from another master",
            loaded.unwrap_or_else(|| "?".into())
        ));
    }
    let mut outcome = serving(cluster, baseline, nodes).await?;
    outcome.effect["declared"] = json!(declared.join("; "));
    Ok(outcome)
}
