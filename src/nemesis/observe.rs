//! How the nemesis looks at nodes. Control and observation run inside the node through
//! `exec` (redis-cli, psql, bash), which partitions do not touch; the clients' view
//! (does the node answer on the address the cluster publishes?) goes through the host.

use super::NemesisError;
use crate::cluster::{Cluster, NodeKind, ready};
use futures::future::join_all;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a node replied to one command: its text, or the error it returned.
pub(crate) type Reply = Result<String, String>;

/// Runs `redis-cli args` inside `node`. The outer error: the command could not run; the
/// inner one: Redis refused it (`READONLY ...`).
pub(crate) async fn redis_cli(
    cluster: &Cluster,
    node: &str,
    args: &[&str],
) -> Result<Reply, NemesisError> {
    let mut cmd = vec!["timeout", "10", "redis-cli", "-e"];
    if cluster.kind(node)? == NodeKind::Sentinel {
        cmd.extend_from_slice(&["-p", "26379"]);
    }
    cmd.extend_from_slice(args);
    let out = cluster.exec(node, &cmd).await?;
    match out.code {
        0 => Ok(Ok(out.stdout.trim_end().to_string())),
        1 => Ok(Err(format!("{}{}", out.stdout, out.stderr).trim().to_string())),
        code => Err(NemesisError::command(node, &args.join(" "), code, &out.stderr)),
    }
}

/// Like [`redis_cli`], with a refusal turned into an error.
pub(crate) async fn redis(
    cluster: &Cluster,
    node: &str,
    args: &[&str],
) -> Result<String, NemesisError> {
    redis_cli(cluster, node, args)
        .await?
        .map_err(|e| NemesisError::command(node, &args.join(" "), 1, &e))
}

/// One field of `INFO section` on `node`.
pub(crate) async fn info(
    cluster: &Cluster,
    node: &str,
    section: &str,
    field: &str,
) -> Result<Option<String>, NemesisError> {
    let text = redis(cluster, node, &["INFO", section]).await?;
    Ok(crate::cluster::info_field(&text, field))
}

/// A numeric field of `INFO section`; 0 when absent.
pub(crate) async fn info_number(
    cluster: &Cluster,
    node: &str,
    section: &str,
    field: &str,
) -> Result<i64, NemesisError> {
    Ok(info(cluster, node, section, field).await?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// `DBSIZE` on `node`.
pub(crate) async fn dbsize(cluster: &Cluster, node: &str) -> Result<i64, NemesisError> {
    let text = redis(cluster, node, &["DBSIZE"]).await?;
    text.parse().map_err(|_| NemesisError::command(node, "DBSIZE", 0, &text))
}

/// A write that changes nothing (`DEL` of a key no one uses): `Ok` on a master, the
/// refusal on a read-only node.
pub(crate) async fn write_probe(cluster: &Cluster, node: &str) -> Result<Reply, NemesisError> {
    redis_cli(cluster, node, &["DEL", "faultline:nemesis:write-probe"]).await
}

/// `role` and, for a replica, `master_host` and `master_link_status`, as JSON.
pub(crate) async fn role(cluster: &Cluster, node: &str) -> Result<Value, NemesisError> {
    let text = redis(cluster, node, &["INFO", "replication"]).await?;
    let field = |f| crate::cluster::info_field(&text, f);
    Ok(match field("role").as_deref() {
        Some("slave") => json!({
            "role": "replica",
            "master_host": field("master_host"),
            "master_link_status": field("master_link_status"),
        }),
        other => json!({ "role": other }),
    })
}

/// The psql command line that logs in on the Postgres node as the clients do (over
/// TCP to 127.0.0.1, with the clients' user, password and database: the same on a
/// container and on a host, whatever the host's local authentication), as shell words.
pub(crate) fn psql_words(cluster: &Cluster) -> Result<Vec<String>, NemesisError> {
    let endpoints = cluster.endpoints();
    let endpoints = endpoints.borrow();
    let login = endpoints
        .postgres
        .as_ref()
        .ok_or_else(|| NemesisError::NoTarget("the cluster has no Postgres".into()))?;
    Ok(vec![
        "env".into(),
        format!("PGPASSWORD={}", login.password),
        "psql".into(),
        "-h".into(),
        "127.0.0.1".into(),
        "-U".into(),
        login.user.clone(),
        "-d".into(),
        login.database.clone(),
    ])
}

/// Runs `sql` with psql on the Postgres node ([`psql_words`]).
pub(crate) async fn psql(cluster: &Cluster, sql: &str) -> Result<String, NemesisError> {
    let mut words = psql_words(cluster)?;
    words.extend(["-XAtc".to_string(), sql.to_string()]);
    let cmd: Vec<&str> = words.iter().map(String::as_str).collect();
    let out = cluster.exec("postgres", &cmd).await?;
    match out.success() {
        true => Ok(out.stdout.trim().to_string()),
        false => Err(NemesisError::command("postgres", sql, out.code, &out.stderr)),
    }
}

/// Whether `from` can open a TCP connection to each of `to` within a second, probed in
/// parallel inside `from`.
pub(crate) async fn tcp_open(
    cluster: &Cluster,
    from: &str,
    to: &[SocketAddr],
) -> Result<Vec<bool>, NemesisError> {
    let out = cluster.exec(from, &["bash", "-c", &tcp_probe_script(to)]).await?;
    Ok(tcp_probe_results(&out.stdout, to.len()))
}

/// A bash script that tries a TCP connection to each of `to` in parallel, a second
/// each, printing `i open` or `i cut` for the i-th.
pub(crate) fn tcp_probe_script(to: &[SocketAddr]) -> String {
    let probes: Vec<String> = to
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let (ip, port) = (addr.ip(), addr.port());
            format!(
                "(if timeout 1 bash -c '</dev/tcp/{ip}/{port}' 2>/dev/null; \
                 then echo {i} open; else echo {i} cut; fi) &"
            )
        })
        .collect();
    format!("{}\nwait", probes.join("\n"))
}

/// What [`tcp_probe_script`] printed, as one `open` flag per address.
pub(crate) fn tcp_probe_results(stdout: &str, n: usize) -> Vec<bool> {
    let mut open = vec![false; n];
    for line in stdout.lines() {
        if let Some((i, "open")) = line.split_once(' ')
            && let Some(slot) = i.parse::<usize>().ok().and_then(|i| open.get_mut(i))
        {
            *slot = true;
        }
    }
    open
}

/// Whether `node` answers a client on the host address the cluster publishes for it
/// (PING, or `SELECT 1` for Postgres), within two seconds.
pub(crate) async fn answers(cluster: &Cluster, node: &str) -> bool {
    let endpoints = cluster.endpoints().borrow().clone();
    let probe = async {
        match (cluster.kind(node), endpoints.redis.get(node)) {
            (_, Some(addr)) => ready::redis_ping(*addr).await,
            (Ok(NodeKind::Sentinel), None) => match cluster.sentinel_addr(node) {
                Ok(addr) => ready::redis_ping(addr).await,
                Err(e) => Err(e.to_string()),
            },
            (_, None) => match &endpoints.postgres {
                Some(pg) => ready::postgres_select_1(pg).await,
                None => Err(format!("no endpoint for {node}")),
            },
        }
    };
    matches!(tokio::time::timeout(Duration::from_secs(2), probe).await, Ok(Ok(())))
}

/// [`answers`] for each node, as a JSON map.
pub(crate) async fn answers_all(cluster: &Cluster, nodes: &[String]) -> (bool, Value) {
    let results = join_all(nodes.iter().map(|n| answers(cluster, n))).await;
    let map: serde_json::Map<String, Value> =
        nodes.iter().zip(&results).map(|(n, a)| (n.clone(), json!(a))).collect();
    (results.iter().any(|a| *a), Value::Object(map))
}

/// The service port of a node on the run's network.
pub(crate) fn service_addr(cluster: &Cluster, node: &str, ip: IpAddr) -> SocketAddr {
    let port = match cluster.kind(node) {
        Ok(NodeKind::Redis) => 6379,
        Ok(NodeKind::Sentinel) => 26379,
        _ => 5432,
    };
    SocketAddr::new(ip, port)
}

/// The master's PING latency through the host, every 10 ms, while a fault lasts.
pub(crate) struct LatencyProbe {
    stop: CancellationToken,
    task: JoinHandle<Vec<Option<Duration>>>,
}

impl LatencyProbe {
    /// Starts probing from a task on the current tokio runtime (it needs one).
    pub(crate) fn start(addr: SocketAddr) -> LatencyProbe {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = workloads::task::spawn(async move {
            let mut samples = Vec::new();
            let mut conn = None;
            while !token.is_cancelled() {
                let started = Instant::now();
                if conn.is_none() {
                    conn = ready::redis_connection(addr).await.ok();
                }
                let ok = match conn.as_mut() {
                    Some(c) => redis::cmd("PING").query_async::<String>(c).await.is_ok(),
                    None => false,
                };
                samples.push(ok.then(|| started.elapsed()));
                if !ok {
                    conn = None;
                }
                tokio::select! {
                    () = token.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
            samples
        });
        LatencyProbe { stop, task }
    }

    /// Stops probing: `{n, failed, p50_ms, p99_ms, max_ms}`.
    pub(crate) async fn finish(self) -> Value {
        self.stop.cancel();
        let samples = self.task.await.unwrap_or_default();
        let mut ms: Vec<f64> = samples.iter().flatten().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms.get(((ms.len() as f64 - 1.0) * q).round() as usize).copied();
        let round = |v: Option<f64>| v.map(|v| (v * 100.0).round() / 100.0);
        json!({
            "n": samples.len(),
            "failed": samples.iter().filter(|s| s.is_none()).count(),
            "p50_ms": round(at(0.5)),
            "p99_ms": round(at(0.99)),
            "max_ms": round(ms.last().copied()),
        })
    }
}

/// Writes to the master through the host at a steady rate while a fault lasts.
pub(crate) struct LoadWriter {
    stop: CancellationToken,
    task: JoinHandle<u64>,
}

/// The key the nemesis's own writes go to; deleted when the fault heals.
pub(crate) const LOAD_KEY: &str = "faultline:nemesis:load";

impl LoadWriter {
    /// Starts writing from a task on the current tokio runtime (it needs one).
    pub(crate) fn start(addr: SocketAddr, kib_per_sec: u32) -> LoadWriter {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let value = vec![b'x'; kib_per_sec as usize * 1024 / 20];
        let task = workloads::task::spawn(async move {
            let mut written = 0u64;
            let mut conn = None;
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while !token.is_cancelled() {
                tokio::select! {
                    () = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if conn.is_none() {
                    conn = ready::redis_connection(addr).await.ok();
                }
                let Some(c) = conn.as_mut() else { continue };
                match redis::cmd("SET").arg(LOAD_KEY).arg(&value).query_async::<()>(c).await {
                    Ok(()) => written += value.len() as u64,
                    Err(_) => conn = None,
                }
            }
            written
        });
        LoadWriter { stop, task }
    }

    /// Stops writing; the bytes written.
    pub(crate) async fn finish(self) -> u64 {
        self.stop.cancel();
        self.task.await.unwrap_or(0)
    }
}

/// When a Redis node last changed a key: its dirty counter (`rdb_changes_since_last_save`,
/// with `rdb_saves`, which resets it), read through the host every 100 ms while a fault
/// lasts. A node cut off from its peers but not from the clients goes on taking their
/// writes; this tells until when.
pub(crate) struct ChangeWatch {
    stop: CancellationToken,
    task: JoinHandle<Option<Duration>>,
}

impl ChangeWatch {
    /// Starts watching the node at `addr` (its published port) from now, from a task
    /// on the current tokio runtime (it needs one).
    pub(crate) fn start(addr: SocketAddr) -> ChangeWatch {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = workloads::task::spawn(async move {
            let started = Instant::now();
            let (mut conn, mut seen, mut last) = (None, None, None);
            while !token.is_cancelled() {
                if conn.is_none() {
                    conn = ready::redis_connection(addr).await.ok();
                }
                let read = match conn.as_mut() {
                    Some(c) => redis::cmd("INFO").arg("persistence").query_async::<String>(c).await,
                    None => Ok(String::new()),
                };
                match read {
                    Ok(text) if !text.is_empty() => {
                        let field = |f| crate::cluster::info_field(&text, f);
                        let now = (field("rdb_changes_since_last_save"), field("rdb_saves"));
                        if seen.as_ref().is_some_and(|before| *before != now) {
                            last = Some(started.elapsed());
                        }
                        seen = Some(now);
                    }
                    Ok(_) => {}
                    Err(_) => conn = None,
                }
                tokio::select! {
                    () = token.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            last
        });
        ChangeWatch { stop, task }
    }

    /// Stops watching: how long after the start the node last changed a key, if it did.
    pub(crate) async fn finish(self) -> Option<Duration> {
        self.stop.cancel();
        self.task.await.ok().flatten()
    }
}
