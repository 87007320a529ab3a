//! Faults on Redis replication: the full-resync storm and its never-converging loop,
//! failover, and split brain.

use super::fault::StormPlan;
use super::interpreter::Outcome;
use super::net::{self, Cut, PartitionMethod};
use super::observe::{self, LatencyProbe, LoadWriter};
use super::topology::{self, Baseline};
use super::{NemesisError, grudge};
use crate::cluster::Cluster;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a heal waits for replicas to link up once nothing holds them back.
const SETTLE: Duration = Duration::from_secs(60);
/// The master log line of a replica dropped for its output buffer.
const OBUF_LINE: &str = "overcoming of output buffer limits";

/// The master's counters a storm moves.
#[derive(Debug)]
struct Stats {
    sync_full: i64,
    sync_partial_ok: i64,
    sync_partial_err: i64,
    forks: i64,
    obuf_disconnects: usize,
}

impl Stats {
    async fn read(cluster: &Cluster, master: &str) -> Result<Stats, NemesisError> {
        let stat = |f| observe::info_number(cluster, master, "stats", f);
        let log = cluster.logs(master, None).await?;
        Ok(Stats {
            sync_full: stat("sync_full").await?,
            sync_partial_ok: stat("sync_partial_ok").await?,
            sync_partial_err: stat("sync_partial_err").await?,
            forks: stat("total_forks").await?,
            obuf_disconnects: log.lines().filter(|l| l.contains(OBUF_LINE)).count(),
        })
    }
}

/// A storm in progress.
pub(crate) struct StormState {
    resync_loop: bool,
    plan: StormPlan,
    master: String,
    replicas: Vec<String>,
    cut: Cut,
    before: Stats,
    original_limit: Option<String>,
    latency: LatencyProbe,
    load: Option<LoadWriter>,
}

impl StormState {
    /// The partition holding the replicas off.
    pub(crate) fn cut(&self) -> &Cut {
        &self.cut
    }
}

/// Cuts every replica from the master, kills their connections and writes twice the
/// backlog, so no replica can resume partially; under a tight output buffer limit for
/// the loop. The master's PING latency is probed until the heal ends.
pub(crate) async fn storm(
    cluster: &Cluster,
    method: &PartitionMethod,
    id: u32,
    resync_loop: bool,
    plan: StormPlan,
) -> Result<(Outcome, StormState), NemesisError> {
    let master = cluster.master();
    let replicas = cluster.replicas();
    if replicas.is_empty() {
        return Err(NemesisError::NoTarget("a resync storm needs replicas".into()));
    }
    let before = Stats::read(cluster, &master).await?;
    let backlog =
        observe::info_number(cluster, &master, "replication", "repl_backlog_size").await?;
    let original_limit = match &plan.output_buffer_limit {
        Some(limit) => {
            let original =
                topology::config_get(cluster, &master, "client-output-buffer-limit").await?;
            observe::redis(
                cluster,
                &master,
                &["CONFIG", "SET", "client-output-buffer-limit", limit],
            )
            .await?;
            Some(original)
        }
        None => None,
    };
    let grudge = grudge::complete(&[vec![master.clone()], replicas.clone()]);
    let (cut, cut_effect, _) = net::cut(cluster, method, id, grudge).await?;
    let killed = observe::redis(cluster, &master, &["CLIENT", "KILL", "TYPE", "replica"]).await?;
    let sets = (2 * backlog as u64 + 65536).div_ceil(65536).to_string();
    let burst = "local v = string.rep('x', 65536) \
                 for i = 1, tonumber(ARGV[1]) do redis.call('SET', KEYS[1], v) end \
                 redis.call('DEL', KEYS[1]) return 0";
    observe::redis(cluster, &master, &["EVAL", burst, "1", "faultline:nemesis:burst", &sets])
        .await?;
    let addr = cluster.endpoints().borrow().redis_master;
    let latency = LatencyProbe::start(addr);
    let load = (plan.load_kib_per_sec > 0).then(|| LoadWriter::start(addr, plan.load_kib_per_sec));
    let effect = json!({
        "master": master,
        "replicas": replicas,
        "repl_backlog_size": backlog,
        "burst_bytes": sets.parse::<u64>().unwrap_or(0) * 65536,
        "replica_connections_killed": killed.parse::<i64>().ok(),
        "output_buffer_limit": plan.output_buffer_limit,
        "load_kib_per_sec": plan.load_kib_per_sec,
        "partition": cut_effect,
    });
    let state = StormState {
        resync_loop,
        plan,
        master,
        replicas,
        cut,
        before,
        original_limit,
        latency,
        load,
    };
    Ok((Outcome::unjudged(effect), state))
}

/// Heals every replica's link at once and watches the resync: full syncs, forks,
/// output-buffer disconnects, the master's latency, and whether the replicas converged
/// within the watch. The loop's limit is then restored and the replicas must converge.
pub(crate) async fn end_storm(
    cluster: &Cluster,
    state: StormState,
) -> Result<Outcome, NemesisError> {
    let rules_left = net::heal(cluster, &state.cut).await?;
    let converged = topology::converged(cluster, state.plan.watch).await;
    let load_bytes = match state.load {
        Some(load) => load.finish().await,
        None => 0,
    };
    let latency = state.latency.finish().await;
    let after = Stats::read(cluster, &state.master).await?;
    let latest_fork_usec =
        observe::info_number(cluster, &state.master, "stats", "latest_fork_usec").await?;
    if let Some(original) = &state.original_limit {
        let args = ["CONFIG", "SET", "client-output-buffer-limit", original];
        observe::redis(cluster, &state.master, &args).await?;
    }
    observe::redis(cluster, &state.master, &["DEL", observe::LOAD_KEY]).await?;
    if converged.is_none() && topology::converged(cluster, SETTLE).await.is_none() {
        let reason = format!("replicas not linked {SETTLE:?} after the storm ended");
        return Err(NemesisError::NotHealed { fault: "resync-storm", reason });
    }
    let full = after.sync_full - state.before.sync_full;
    let n = state.replicas.len() as i64;
    let mut effect = json!({
        "sync_full": full,
        "sync_partial_ok": after.sync_partial_ok - state.before.sync_partial_ok,
        "sync_partial_err": after.sync_partial_err - state.before.sync_partial_err,
        "forks": after.forks - state.before.forks,
        "latest_fork_usec": latest_fork_usec,
        "output_buffer_disconnects": after.obuf_disconnects - state.before.obuf_disconnects,
        "converged_ms": converged.map(|d| d.as_millis() as u64),
        "watched_ms": state.plan.watch.as_millis() as u64,
        "master_latency": latency,
        "load_bytes": load_bytes,
        "rules_left": rules_left,
    });
    let (seen, note) = match state.resync_loop {
        false => (full >= n, format!("{full} full resyncs for {n} replicas")),
        true => (
            full > n && converged.is_none(),
            format!("{full} full resyncs for {n} replicas, converged: {}", converged.is_some()),
        ),
    };
    if !seen {
        effect["note"] = json!(note);
    }
    Ok(Outcome::judged(effect, seen))
}

/// Promotes `new`, repoints every other node at it and moves the clients there; the
/// intended effect is that a client's write through the published master address lands
/// on `new`.
pub(crate) async fn failover(
    cluster: &Cluster,
    baseline: &Baseline,
    new: &str,
) -> Result<Outcome, NemesisError> {
    let old = cluster.master();
    if new == old {
        return Err(NemesisError::NoTarget(format!("{new} is the master already")));
    }
    let repointed = topology::promote(cluster, baseline, new).await?;
    let endpoints = cluster.endpoints().borrow().clone();
    let moved = endpoints.redis_master == endpoints.redis[new];
    let write = client_write(endpoints.redis_master).await;
    let mut effect = json!({
        "old": old,
        "new": new,
        "repointed": repointed,
        "clients_at": endpoints.redis_master.to_string(),
        "client_write": write.as_ref().err(),
    });
    let seen = moved && write.is_ok();
    if !seen {
        effect["note"] = json!("the clients' write did not land on the promoted node");
    }
    Ok(Outcome::judged(effect, seen))
}

async fn client_write(addr: std::net::SocketAddr) -> Result<(), String> {
    let mut conn = crate::cluster::ready::redis_connection(addr).await?;
    redis::cmd("DEL")
        .arg("faultline:nemesis:write-probe")
        .query_async::<i64>(&mut conn)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Waits until every replica follows the (new) master.
pub(crate) async fn linked(
    cluster: &Cluster,
    fault: &'static str,
) -> Result<Outcome, NemesisError> {
    match topology::converged(cluster, SETTLE).await {
        Some(took) => Ok(Outcome::unjudged(json!({ "converged_ms": took.as_millis() as u64 }))),
        None => Err(NemesisError::NotHealed {
            fault,
            reason: format!("replicas not linked within {SETTLE:?}"),
        }),
    }
}

/// A split in progress: two masters.
pub(crate) struct Split {
    old: String,
    new: String,
    offset_before: i64,
    since: std::time::Instant,
}

/// Promotes `new` and leaves the old master, and the clients, where they are.
pub(crate) async fn split_brain(
    cluster: &Cluster,
    new: &str,
) -> Result<(Outcome, Split), NemesisError> {
    let old = cluster.master();
    if new == old {
        return Err(NemesisError::NoTarget(format!("{new} is the master already")));
    }
    let offset_before = offset(cluster, &old).await?;
    let since = std::time::Instant::now();
    observe::redis(cluster, new, &["REPLICAOF", "NO", "ONE"]).await?;
    let mut roles = serde_json::Map::new();
    roles.insert(old.clone(), observe::role(cluster, &old).await?);
    roles.insert(new.to_string(), observe::role(cluster, new).await?);
    let roles = Value::Object(roles);
    let two_masters = roles[&old]["role"] == "master" && roles[new]["role"] == "master";
    let mut effect = json!({ "old": old, "new": new, "roles": roles });
    if !two_masters {
        effect["note"] = json!("there were not two masters");
        return Ok((
            Outcome::judged(effect, false),
            Split { old, new: new.into(), offset_before, since },
        ));
    }
    Ok((Outcome::unjudged(effect), Split { old, new: new.into(), offset_before, since }))
}

/// Ends the split: clients move to the promoted node and the old master rejoins as its
/// replica, discarding what it took since the split.
pub(crate) async fn end_split(
    cluster: &Cluster,
    baseline: &Baseline,
    split: Split,
) -> Result<Outcome, NemesisError> {
    let advance = offset(cluster, &split.old).await? - split.offset_before;
    let pings = ping_allowance(cluster, &split.old, split.since.elapsed()).await?;
    let writes = advance - pings;
    let old_dbsize_before = observe::dbsize(cluster, &split.old).await?;
    let full_before = observe::info_number(cluster, &split.new, "stats", "sync_full").await?;
    topology::promote(cluster, baseline, &split.new).await?;
    linked(cluster, "split-brain").await?;
    let full = observe::info_number(cluster, &split.new, "stats", "sync_full").await? - full_before;
    let mut effect = json!({
        "repl_offset_advance": advance,
        "ping_allowance": pings,
        "write_bytes_on_old_master": writes,
        "old_dbsize_before": old_dbsize_before,
        "old_dbsize_after": observe::dbsize(cluster, &split.old).await?,
        "full_resyncs": full,
    });
    if writes <= 0 {
        effect["note"] = json!("the old master took no write during the split: nothing was lost");
    }
    Ok(Outcome::judged(effect, writes > 0))
}

/// The master's replication offset: every byte of its replication stream, which only
/// grows (a background save, which resets `rdb_changes_since_last_save`, leaves it).
async fn offset(cluster: &Cluster, node: &str) -> Result<i64, NemesisError> {
    observe::info_number(cluster, node, "replication", "master_repl_offset").await
}

/// A master with replicas adds a `PING` to its stream every `repl-ping-replica-period`
/// (from its once-a-second replication cron): this many bytes of an offset's advance
/// over `elapsed` may be pings, not writes. An interval holds at most one tick more
/// than it spans whole periods; periods are taken 10% short for the cron's jitter.
async fn ping_allowance(
    cluster: &Cluster,
    node: &str,
    elapsed: Duration,
) -> Result<i64, NemesisError> {
    const PING: i64 = b"*1\r\n$4\r\nPING\r\n".len() as i64;
    let period = topology::config_get(cluster, node, "repl-ping-replica-period").await?;
    let period = period.parse::<f64>().unwrap_or(1.0).max(1.0);
    Ok(PING * ((elapsed.as_secs_f64() / (period * 0.9)).floor() as i64 + 1))
}

/// The master cut off with a minority of the sentinels (`isolate-master`): what its
/// heal judges. Sentinel, not the nemesis, decides what happens to each side; after the
/// heal the nemesis asks the sentinels whom they name master.
///
/// What the old master took while cut off is counted in *changes* (Redis's dirty
/// counter, `rdb_changes_since_last_save`), not in bytes of its replication stream: the
/// sentinel cut off with it publishes a hello to it every 2 s, and those PUBLISHes grow
/// the stream (they are propagated to replicas) but change no key.
pub(crate) struct Isolation {
    old: String,
    before: Dirty,
    /// Until the heal reads it.
    watch: Option<observe::ChangeWatch>,
}

/// What the old master took while cut off: the keys it changed, and until when after
/// the cut it changed any.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CutWrites {
    changes: i64,
    until: Option<Duration>,
}

/// The dirty counter and the number of snapshots taken, which reset it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dirty {
    changes: i64,
    saves: i64,
}

impl Dirty {
    async fn read(cluster: &Cluster, node: &str) -> Result<Dirty, NemesisError> {
        let text = observe::redis(cluster, node, &["INFO", "persistence"]).await?;
        let field =
            |f| crate::cluster::info_field(&text, f).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Dirty { changes: field("rdb_changes_since_last_save"), saves: field("rdb_saves") })
    }

    /// Keys changed from `self` to `later`; a snapshot in between reset the counter, so
    /// then only what changed since it is known (a lower bound).
    fn since(self, later: Dirty) -> i64 {
        match later.saves == self.saves {
            true => later.changes - self.changes,
            false => later.changes,
        }
    }
}

/// How long a heal waits for Sentinel to demote the old master: it waits for the
/// node's role to hold still for 8 s before converting it (measured: about 10 s after
/// the heal), then the node resyncs.
const DEMOTION: Duration = Duration::from_secs(40);

/// How long a heal waits for the sentinels to agree on the master once they can talk.
const AGREEMENT: Duration = Duration::from_secs(10);

impl Isolation {
    /// Notes the master's dirty counter as it is cut off, and starts watching it change.
    pub(crate) async fn begin(cluster: &Cluster, old: &str) -> Result<Isolation, NemesisError> {
        let before = Dirty::read(cluster, old).await?;
        let addr = cluster.endpoints().borrow().redis[old];
        let watch = Some(observe::ChangeWatch::start(addr));
        Ok(Isolation { old: old.to_string(), before, watch })
    }

    /// What the old master took while cut off, read before the heal.
    pub(crate) async fn writes(&mut self, cluster: &Cluster) -> Result<CutWrites, NemesisError> {
        let changes = self.before.since(Dirty::read(cluster, &self.old).await?);
        let until = match self.watch.take() {
            Some(watch) => watch.finish().await,
            None => None,
        };
        Ok(CutWrites { changes, until })
    }

    /// After the heal: waits until every sentinel names one master; if it is another
    /// node, waits until the old master is its replica with its link up, having thrown
    /// away what it took while cut off. It took effect when the old master changed keys
    /// while cut off and, after a failover, was demoted.
    pub(crate) async fn end(
        self,
        cluster: &Cluster,
        cut: CutWrites,
    ) -> Result<Outcome, NemesisError> {
        let writes = cut.changes;
        let until = cut.until.map(|d| d.as_millis() as u64);
        let mut effect = json!({
            "old": self.old,
            "changes_on_old_master": writes,
            "old_master_changed_keys_until_ms": until,
        });
        let named = agreed_master(cluster).await?;
        let new = match named {
            Some(node) => node,
            None => {
                effect["note"] = json!("the sentinels did not agree on a master after the heal");
                return Ok(Outcome::judged(effect, false));
            }
        };
        let failover = new != self.old;
        effect["failover"] = json!(failover);
        effect["new"] = json!(failover.then_some(&new));
        let healed = tokio::time::Instant::now();
        let mut demoted = !failover;
        while failover && healed.elapsed() < DEMOTION {
            let role = observe::role(cluster, &self.old).await?;
            if role["role"] == "replica" && role["master_link_status"] == "up" {
                effect["demoted_after_heal_ms"] = json!(healed.elapsed().as_millis() as u64);
                demoted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let why_not = match (writes > 0, demoted) {
            (false, _) => "the old master changed no key while cut off: nothing could be lost",
            (true, false) => "Sentinel elected a new master, and the old one was not demoted",
            (true, true) => "",
        };
        Ok(Outcome::unjudged(effect).judge(writes > 0 && demoted, why_not))
    }
}

/// The master every sentinel that answers names (`SENTINEL get-master-addr-by-name`,
/// asked inside each sentinel), once they all agree; `None` if they do not within
/// [`AGREEMENT`].
async fn agreed_master(cluster: &Cluster) -> Result<Option<String>, NemesisError> {
    let started = tokio::time::Instant::now();
    let sentinel = cluster.endpoints().borrow().sentinel.clone();
    let Some(sentinel) = sentinel else { return Ok(Some(cluster.master())) };
    loop {
        let mut named = std::collections::BTreeSet::new();
        for node in sentinel.nodes.keys() {
            let args = ["SENTINEL", "get-master-addr-by-name", sentinel.master_name.as_str()];
            // A sentinel another fault holds down has no say.
            let Ok(answer) = observe::redis(cluster, node, &args).await else { continue };
            let mut lines = answer.lines();
            let (ip, port) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
            let known = cluster.endpoints().borrow().sentinel.clone();
            let node = known.and_then(|s| s.node_at(ip, port.parse().ok()?).map(String::from));
            named.insert(node);
        }
        if let [Some(node)] = Vec::from_iter(named).as_slice() {
            return Ok(Some(node.clone()));
        }
        if started.elapsed() >= AGREEMENT {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
