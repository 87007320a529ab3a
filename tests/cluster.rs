//! The cluster and node control, on real containers.

use crate::common::{self, eventually, redis};
use faultline::cluster::{Cluster, info_field};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const SOON: Duration = Duration::from_secs(20);

async fn get(addr: std::net::SocketAddr, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(&mut redis(addr).await).await.expect("GET")
}

async fn info(addr: std::net::SocketAddr, section: &str, field: &str) -> Option<String> {
    let text: String =
        redis::cmd("INFO").arg(section).query_async(&mut redis(addr).await).await.expect("INFO");
    info_field(&text, field)
}

#[tokio::test]
async fn a_write_on_the_master_reaches_both_replicas_and_postgres_answers() {
    let cluster = common::start(Cluster::builder().redis_replicas(2).postgres().seed(1)).await;
    let endpoints = cluster.endpoints().borrow().clone();
    assert_eq!(endpoints.redis.len(), 3);
    for addr in endpoints.redis.values() {
        assert!(addr.ip().is_loopback(), "{addr} is not on loopback");
    }
    let () = redis::cmd("SET")
        .arg("balance:42")
        .arg(100)
        .query_async(&mut redis(endpoints.redis_master).await)
        .await
        .unwrap();
    for replica in cluster.replicas() {
        let addr = endpoints.redis[&replica];
        let value =
            eventually(SOON, "the write to replicate", || async { get(addr, "balance:42").await })
                .await;
        assert_eq!(value, "100", "on {replica}");
    }

    let pg = sqlx::PgPool::connect(&endpoints.postgres.clone().unwrap().url()).await.unwrap();
    sqlx::query("CREATE TABLE t (id int primary key, v text)").execute(&pg).await.unwrap();
    sqlx::query("INSERT INTO t VALUES (1, 'one')").execute(&pg).await.unwrap();
    let v: String =
        sqlx::query_scalar("SELECT v FROM t WHERE id = 1").fetch_one(&pg).await.unwrap();
    assert_eq!(v, "one");
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&pg).await.unwrap();
    assert_eq!(sync, "on");
    pg.close().await;
    common::teardown_and_assert_clean(cluster).await;
}

#[tokio::test]
async fn a_restarted_replica_resyncs_and_serves_the_data() {
    let cluster = common::start(Cluster::builder().redis_replicas(1)).await;
    let master = cluster.endpoints().borrow().redis_master;
    let () =
        redis::cmd("SET").arg("k").arg("v1").query_async(&mut redis(master).await).await.unwrap();
    let syncs_before = info(master, "stats", "sync_full").await.unwrap().parse::<u64>().unwrap();

    let replica = cluster.replicas()[0].clone();
    let config = cluster.config_text(&replica).unwrap();
    cluster.restart_with_config(&replica, &config).await.unwrap();
    cluster.wait_replication(SOON).await.unwrap();

    let addr = cluster.endpoints().borrow().redis[&replica];
    assert_eq!(get(addr, "k").await.as_deref(), Some("v1"));
    let syncs_after = info(master, "stats", "sync_full").await.unwrap().parse::<u64>().unwrap();
    let partial = info(master, "stats", "sync_partial_ok").await.unwrap().parse::<u64>().unwrap();
    assert!(syncs_after + partial > syncs_before, "the replica did not sync again");
    common::teardown_and_assert_clean(cluster).await;
}

#[tokio::test]
async fn a_killed_master_serves_again_at_the_address_the_cluster_reports() {
    let cluster =
        common::start(Cluster::builder().redis_replicas(1).redis_setting("appendonly", "yes"))
            .await;
    let master = cluster.master();
    let before = cluster.endpoints().borrow().redis_master;
    let () =
        redis::cmd("SET").arg("k").arg("kept").query_async(&mut redis(before).await).await.unwrap();

    cluster.kill(&master).await.unwrap();
    let down = redis::Client::open(format!("redis://{before}")).unwrap();
    let config =
        redis::AsyncConnectionConfig::new().set_connection_timeout(Some(Duration::from_secs(1)));
    let refused = async {
        down.get_multiplexed_async_connection_with_config(&config)
            .await?
            .send_packed_command(&redis::cmd("PING"))
            .await
    };
    assert!(refused.await.is_err(), "a killed master still answered");

    cluster.start(&master).await.unwrap();
    let after = cluster.endpoints().borrow().redis_master;
    let pong: String = redis::cmd("PING").query_async(&mut redis(after).await).await.unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(
        get(after, "k").await.as_deref(),
        Some("kept"),
        "appendonly keeps an acknowledged write over kill -9"
    );
    common::teardown_and_assert_clean(cluster).await;
}

#[tokio::test]
async fn node_control_execs_pauses_and_reads_logs() {
    let cluster = common::start(Cluster::builder().redis_replicas(0)).await;
    let node = cluster.master();
    let out = cluster.exec(&node, &["sh", "-c", "echo out; echo err >&2; exit 3"]).await.unwrap();
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (3, "out\n", "err\n"));
    let iptables = cluster.exec(&node, &["iptables", "-S"]).await.unwrap();
    assert!(iptables.success(), "iptables inside the container: {}", iptables.stderr);

    let addr = cluster.endpoints().borrow().redis_master;
    cluster.pause(&node).await.unwrap();
    let client = redis::Client::open(format!("redis://{addr}")).unwrap();
    let short = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(500)));
    let frozen = async {
        client
            .get_multiplexed_async_connection_with_config(&short)
            .await?
            .send_packed_command(&redis::cmd("PING"))
            .await
    };
    assert!(frozen.await.is_err(), "a paused node answered");
    cluster.unpause(&node).await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut redis(addr).await).await.unwrap();
    assert_eq!(pong, "PONG");

    assert!(cluster.logs(&node, Some(50)).await.unwrap().contains("Ready to accept connections"));
    common::teardown_and_assert_clean(cluster).await;
}

#[tokio::test]
async fn a_restart_with_a_given_config_applies_it() {
    let cluster = common::start(Cluster::builder().redis_replicas(0)).await;
    let node = cluster.master();
    let config = format!("{}maxmemory-policy allkeys-lru\n", cluster.config_text(&node).unwrap());
    cluster.restart_with_config(&node, &config).await.unwrap();
    let addr = cluster.endpoints().borrow().redis_master;
    let policy: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(&mut redis(addr).await)
        .await
        .unwrap();
    assert_eq!(policy, ["maxmemory-policy", "allkeys-lru"]);
    assert_eq!(cluster.config_text(&node).unwrap(), config);
    common::teardown_and_assert_clean(cluster).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_while_a_cluster_runs_leaves_nothing_behind() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let cluster = common::start(Cluster::builder().redis_replicas(1).postgres()).await;
        tx.send(cluster.run_id().to_string()).unwrap();
        panic!("a test failed while its cluster ran");
    });
    let run = rx.await.expect("the cluster started");
    assert!(task.await.unwrap_err().is_panic());
    common::assert_run_is_gone(&run).await;
}

#[tokio::test]
async fn a_postgres_kill_loses_no_committed_row() {
    let cluster = common::start(Cluster::builder().redis_replicas(0).postgres()).await;
    let url = cluster.endpoints().borrow().postgres.clone().unwrap().url();
    let pg = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE acks (n int)").execute(&pg).await.unwrap();
    for n in 0..50 {
        sqlx::query("INSERT INTO acks VALUES ($1)").bind(n).execute(&pg).await.unwrap();
    }
    pg.close().await;
    cluster.kill("postgres").await.unwrap();
    cluster.start("postgres").await.unwrap();
    let url = cluster.endpoints().borrow().postgres.clone().unwrap().url();
    let pg = sqlx::PgPool::connect(&url).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM acks").fetch_one(&pg).await.unwrap();
    assert_eq!(count, 50);
    pg.close().await;
    common::teardown_and_assert_clean(cluster).await;
}

#[tokio::test]
async fn ctrl_c_of_faultline_up_tears_the_cluster_down() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["up", "--replicas", "1"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let run = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("faultline up exited before the cluster was up");
        if let Some(rest) = line.strip_prefix("run ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.starts_with("press Ctrl-C") {
            break;
        }
    }
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "faultline up exited with {status}");
    common::assert_run_is_gone(&run).await;
}

#[tokio::test]
async fn without_docker_the_cli_says_what_to_do() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("up")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("is the Docker daemon running?"), "{stderr}");
}

/// `faultline up` killed with SIGKILL leaves its run behind, owned by a dead process:
/// `faultline clean` removes it and leaves this test's live run alone, which only
/// `clean --run ID` removes.
#[tokio::test]
async fn clean_removes_a_dead_process_run_and_leaves_a_live_one_unless_named() {
    let live = common::start(Cluster::builder().redis_replicas(0)).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["up", "--replicas", "0", "--no-postgres"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let dead = loop {
        let line = lines.next_line().await.unwrap().expect("faultline up exited before it was up");
        if let Some(rest) = line.strip_prefix("run ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    child.kill().await.unwrap();
    let clean = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("clean")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = clean(&[]);
    let live_run = live.run_id().to_string();
    assert!(said.contains(&format!("removed run {dead}:")), "{said}");
    let me = std::process::id();
    assert!(said.contains(&format!("left run {live_run}: its process {me} still runs")), "{said}");
    common::assert_run_is_gone(&dead).await;
    let docker = faultline::docker::connect().await.unwrap();
    assert!(!faultline::docker::leftovers(&docker, &live_run).await.unwrap().is_empty());
    let said = clean(&["--run", &live_run]);
    assert!(said.contains(&format!("removed run {live_run}:")), "{said}");
    common::assert_run_is_gone(&live_run).await;
    live.keep().unwrap();
}
