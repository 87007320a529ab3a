//! The SSH backend against the container fleet: preflight, node processes, the dead-man
//! switch and `clean --hosts`. What happened is read on the host over the fleet's own
//! `ssh`, never through the backend under test.

use crate::common;
use faultline::cluster::control::{NodeControl, NodeSpec};
use faultline::cluster::{ClusterError, NodeKind};
use faultline::hosts::fleet::{Fleet, FleetSpec, USER};
use faultline::hosts::{Inventory, SshNodes, clean, setup_commands, state_dir};
use faultline::nemesis::NodeNeeds;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ALL: NodeNeeds = NodeNeeds { nodes: true, iptables: true, netem: true };

/// A directory of its own for a fleet's key and inventory.
fn fleet_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("faultline-ssh-{name}-{}", std::process::id()))
}

async fn start(spec: FleetSpec, name: &str) -> (Fleet, PathBuf) {
    let dir = fleet_dir(name);
    match Fleet::start(&spec, &dir).await {
        Ok(fleet) => (fleet, dir),
        Err(e) => panic!("this test needs Docker, OpenSSH and faultline's images: {e}"),
    }
}

async fn finish(fleet: Fleet, dir: PathBuf) {
    let run = fleet.run_id().to_string();
    fleet.teardown().await.expect("fleet teardown");
    common::assert_run_is_gone(&run).await;
    std::fs::remove_dir_all(dir).expect("remove the fleet's directory");
}

/// Runs `script` as root on `host` through the fleet's `ssh`; its stdout (stderr on
/// failure fails the test).
async fn on_host(fleet: &Fleet, host: &str, script: &str) -> String {
    let mut ssh = fleet.ssh(host, USER).unwrap_or_else(|| panic!("no host {host}"));
    let quoted = format!("'{}'", script.replace('\'', r"'\''"));
    let out = ssh.arg(format!("sudo -n sh -c {quoted}")).output().await.expect("ssh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{host}: `{script}` failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The process state letter of `node`'s server on `host` (`S`, `T`, ...), `-` if none.
async fn server_state(fleet: &Fleet, host: &str, run: &str, node: &str) -> String {
    let pid = format!("{}/{node}.pid", state_dir(run));
    let script =
        format!("p=$(cat {pid}); [ -r /proc/$p/stat ] && cut -d' ' -f3 /proc/$p/stat || echo -");
    on_host(fleet, host, &script).await.trim().to_string()
}

fn redis_spec() -> NodeSpec {
    let config = "bind 0.0.0.0\nprotected-mode no\nport 6379\ndir /var/lib/redis/faultline\n";
    NodeSpec { name: "redis-0".into(), kind: NodeKind::Redis, config: config.into() }
}

/// Connected, checked and armed on `inventory`, with `redis-0` created.
async fn armed_with_redis(inventory: &Inventory, run: &str) -> SshNodes {
    let mut nodes = SshNodes::connect(inventory, run).await.expect("connect");
    nodes.preflight(&NodeNeeds { netem: false, ..ALL }).await.expect("preflight");
    nodes.arm().await.expect("arm");
    nodes.create(vec![redis_spec()]).await.expect("create");
    nodes
}

async fn redis_answers(nodes: &SshNodes) {
    let addr = nodes.client_addr("redis-0").await.expect("address");
    common::eventually(Duration::from_secs(10), "Redis on host-redis-0 to answer", || async move {
        let client = redis::Client::open(format!("redis://{addr}")).ok()?;
        let mut connection = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING").query_async::<String>(&mut connection).await.ok()
    })
    .await;
}

/// Whether the kernel under the fleet has netem (the hosts share this machine's kernel).
async fn kernel_has_netem(fleet: &Fleet, host: &str) -> bool {
    let probe = "tc qdisc add dev eth0 root netem delay 1ms && tc qdisc del dev eth0 root && echo yes; exit 0";
    on_host(fleet, host, probe).await.trim() == "yes"
}

#[tokio::test]
async fn connect_and_preflight_pass_on_the_fleet_and_netem_is_refused_where_the_kernel_lacks_it() {
    let spec = FleetSpec { redis: 1, sentinels: 1, postgres: true, nosudo: None };
    let (fleet, dir) = start(spec, "ok").await;
    let nodes = SshNodes::connect(fleet.inventory(), "preflight-ok").await.expect("connect");
    nodes.preflight(&NodeNeeds { netem: false, ..ALL }).await.expect("the fleet suits partitions");
    let clients = nodes.clients_ip().await.expect("clients' address");
    assert!(!clients.is_loopback(), "the hosts see the harness at {clients}");
    let with_netem = nodes.preflight(&ALL).await;
    if kernel_has_netem(&fleet, "host-redis-0").await {
        with_netem.expect("the fleet suits every fault");
    } else {
        let Err(ClusterError::Unsuitable(lines)) = with_netem else {
            panic!("no netem in this kernel: preflight must refuse, not {with_netem:?}");
        };
        assert_eq!(lines.lines().count(), 3, "one line per host: {lines}");
        assert!(lines.lines().all(|l| l.contains("cannot add a netem qdisc on eth0")), "{lines}");
    }
    Box::new(nodes).teardown().await.expect("teardown");
    finish(fleet, dir).await;
}

#[tokio::test]
async fn preflight_names_the_host_that_forbids_faults_and_the_one_without_sudo() {
    let spec =
        FleetSpec { redis: 2, sentinels: 0, postgres: false, nosudo: Some("redis-1".into()) };
    let (fleet, dir) = start(spec, "refused").await;
    let mut inventory = fleet.inventory().clone();
    inventory.hosts[0].settings.allow_faults = Some(false);
    on_host(&fleet, "host-redis-0", "echo 'port 6379' > /etc/faultline/redis.conf").await;
    let nodes = SshNodes::connect(&inventory, "preflight-refused").await.expect("connect");
    let refused = nodes.preflight(&NodeNeeds { netem: false, ..ALL }).await;
    let Err(ClusterError::Unsuitable(lines)) = refused else {
        panic!("preflight must refuse, not {refused:?}");
    };
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 3, "one line per problem: {lines:#?}");
    assert!(lines[0].starts_with("host-redis-0 ") && lines[0].contains("allow_faults = true"));
    assert!(
        lines[1].starts_with("host-redis-0 ")
            && lines[1].contains(
                "/etc/faultline/redis.conf exists and is not faultline's: point [roles.redis] \
                 config at a file of faultline's own"
            ),
        "{lines:#?}"
    );
    assert!(lines[2].starts_with("host-redis-1 ") && lines[2].contains("`sudo -n true` fails"));
    Box::new(nodes).teardown().await.expect("teardown");
    finish(fleet, dir).await;
}

#[tokio::test]
async fn a_node_started_over_ssh_answers_and_kill_stop_pause_unpause_show_on_its_host() {
    let (fleet, dir) =
        start(FleetSpec { redis: 1, sentinels: 0, postgres: false, nosudo: None }, "nodes").await;
    let (run, host) = ("nodes-1", "host-redis-0");
    let nodes = armed_with_redis(fleet.inventory(), run).await;
    redis_answers(&nodes).await;
    let tricky = "it's $HOME; `id` !x \"y\"";
    let echoed = nodes.exec("redis-0", &["printf", "%s", tricky]).await.expect("exec");
    assert_eq!(echoed.stdout, tricky, "exec passes each argument as it is, as root");

    nodes.pause("redis-0").await.expect("pause");
    assert_eq!(server_state(&fleet, host, run, "redis-0").await, "T");
    assert!(nodes.state("redis-0").await.expect("state").paused);
    nodes.unpause("redis-0").await.expect("unpause");
    assert_eq!(server_state(&fleet, host, run, "redis-0").await, "S");
    nodes.pause("redis-0").await.expect("pause");
    let backstop = nodes.backstop();
    std::thread::spawn(backstop).join().expect("backstop thread").expect("backstop");
    assert_eq!(server_state(&fleet, host, run, "redis-0").await, "S", "the backstop resumes it");

    let mut second = SshNodes::connect(fleet.inventory(), "nodes-2").await.expect("connect");
    let occupied = second.preflight(&NodeNeeds { netem: false, ..ALL }).await;
    let Err(ClusterError::Unsuitable(lines)) = occupied else {
        panic!("preflight must refuse a host whose port is taken, not {occupied:?}");
    };
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.contains("something already listens on port 6379"), "{lines}");
    assert!(lines.contains("`faultline clean --hosts`"), "{lines}");
    let refused = second.arm().await.expect_err("a second live run on the host is refused");
    assert!(refused.to_string().contains("run nodes-1 holds this host"), "{refused}");
    Box::new(second).teardown().await.expect("the refused run's teardown");
    nodes.kill("redis-0").await.expect("kill");
    assert_eq!(server_state(&fleet, host, run, "redis-0").await, "-");
    assert!(!nodes.state("redis-0").await.expect("state").running);
    nodes.start("redis-0").await.expect("start");
    redis_answers(&nodes).await;
    nodes.stop("redis-0").await.expect("stop");
    assert_eq!(server_state(&fleet, host, run, "redis-0").await, "-");
    assert!(nodes.logs("redis-0", None).await.expect("logs").contains("Ready to accept"));

    Box::new(nodes).teardown().await.expect("teardown");
    let left = on_host(
        &fleet,
        host,
        &format!(
            "ls -d {} /etc/faultline/redis.conf 2>/dev/null; pgrep redis-server; \
             iptables -w -S | grep -i faultline; exit 0",
            state_dir(run)
        ),
    )
    .await;
    assert_eq!(left, "", "teardown leaves nothing of the run");
    finish(fleet, dir).await;
}

#[tokio::test]
async fn a_lease_that_passes_heals_the_host_and_the_run_says_it_was_interrupted() {
    let (fleet, dir) =
        start(FleetSpec { redis: 1, sentinels: 0, postgres: false, nosudo: None }, "switch").await;
    let (run, host) = ("switch-1", "host-redis-0");
    let mut inventory = fleet.inventory().clone();
    inventory.lease = Duration::from_secs(6);
    let nodes = armed_with_redis(&inventory, run).await;
    assert!(nodes.rules_survive_restart(), "rules on a host outlive its server");
    let rule = ["iptables", "-w", "-A", "FAULTLINE", "-s", "192.0.2.1", "-j", "DROP"];
    assert!(nodes.exec("redis-0", &rule).await.expect("exec").success());
    nodes.pause("redis-0").await.expect("pause");
    assert_eq!(server_state(&fleet, host, run, "redis-0").await, "T");
    assert_eq!(nodes.interrupted(), None);

    // As a harness cut off for a whole lease would leave it: the lease has passed (set
    // again each time round, as the harness's renewals keep moving it on).
    let lease = format!("{}/lease", state_dir(run));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        on_host(&fleet, host, &format!("echo 1 > {lease}")).await;
        let rules = on_host(&fleet, host, "iptables -w -S FAULTLINE | grep -c DROP; exit 0").await;
        let state = server_state(&fleet, host, run, "redis-0").await;
        if rules.trim() == "0" && state == "S" {
            break;
        }
        assert!(Instant::now() < deadline, "not healed within 5 s: {rules} rules, state {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = on_host(&fleet, host, &format!("cat {}/switch.log", state_dir(run))).await;
    assert!(log.contains("lease expired") && log.contains("resumed process group"), "{log}");
    let said = common::eventually(Duration::from_secs(10), "a renewal to see it", || async {
        nodes.interrupted()
    })
    .await;
    assert!(
        said.starts_with("host host-redis-0 (")
            && said.contains("'s dead-man switch fired at ")
            && said.ends_with("its faults were healed before the nemesis healed them"),
        "{said}"
    );
    Box::new(nodes).teardown().await.expect("teardown");
    finish(fleet, dir).await;
}

#[tokio::test]
async fn a_run_dropped_without_teardown_is_torn_down_by_its_guard() {
    let (fleet, dir) =
        start(FleetSpec { redis: 1, sentinels: 0, postgres: false, nosudo: None }, "guard").await;
    let (run, host) = ("guard-1", "host-redis-0");
    let nodes = armed_with_redis(fleet.inventory(), run).await;
    redis_answers(&nodes).await;
    let rule = ["iptables", "-w", "-A", "FAULTLINE", "-s", "192.0.2.1", "-j", "DROP"];
    assert!(nodes.exec("redis-0", &rule).await.expect("exec").success());
    nodes.pause("redis-0").await.expect("pause");

    drop(nodes); // a panic, Ctrl-C during start, a failed start
    let left = on_host(
        &fleet,
        host,
        &format!(
            "ls -d {} /etc/faultline/redis.conf 2>/dev/null; pgrep redis-server; \
             iptables -w -S | grep -i faultline; exit 0",
            state_dir(run)
        ),
    )
    .await;
    assert_eq!(left, "", "the guard leaves nothing of the run");
    finish(fleet, dir).await;
}

#[tokio::test]
async fn clean_leaves_a_live_run_and_removes_it_once_its_lease_passes_and_nothing_else() {
    let (fleet, dir) =
        start(FleetSpec { redis: 1, sentinels: 0, postgres: false, nosudo: None }, "clean").await;
    let (run, host) = ("left-1", "host-redis-0");
    // What a harness killed with SIGKILL leaves: the run set up by the very scripts the
    // backend sends, and nobody to tear it down.
    let setup = setup_commands(fleet.inventory(), run, &[redis_spec()]).expect("plan");
    for (_, script) in &setup {
        on_host(&fleet, host, script).await;
    }
    on_host(
        &fleet,
        host,
        "mkdir -p /var/lib/faultline/not-a-run && touch /var/lib/faultline/beside",
    )
    .await;

    let report = clean(fleet.inventory()).await.expect("clean");
    let (_, said) = &report.hosts[0];
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].starts_with("left run left-1: its lease is live for "), "{said:#?}");
    let kept = format!(
        "ls -d {} /etc/faultline/redis.conf; pgrep -c redis-server; iptables -w -S FAULTLINE",
        state_dir(run)
    );
    on_host(&fleet, host, &kept).await;

    on_host(&fleet, host, &format!("echo 1 > {}/lease", state_dir(run))).await;
    let report = clean(fleet.inventory()).await.expect("clean");
    let (name, removed) = &report.hosts[0];
    assert!(name.starts_with(host), "{report:?}");
    let run_dir = state_dir(run);
    for what in
        ["(redis-0) killed", "/etc/faultline/redis.conf", run_dir.as_str(), "chain FAULTLINE"]
    {
        assert!(removed.iter().any(|line| line.contains(what)), "{what} not in {removed:#?}");
    }
    let left = on_host(
        &fleet,
        host,
        &format!(
            "ls -d {run_dir} /etc/faultline/redis.conf 2>/dev/null; pgrep redis-server; \
             ls /var/lib/faultline; exit 0"
        ),
    )
    .await;
    assert_eq!(left, "beside\nnot-a-run\n", "only what faultline never made is left");
    finish(fleet, dir).await;
}

#[tokio::test]
async fn postgres_started_over_ssh_answers_psql_on_its_host_and_is_gone_after_kill() {
    let spec = FleetSpec { redis: 1, sentinels: 0, postgres: true, nosudo: None };
    let (fleet, dir) = start(spec, "postgres").await;
    let run = "postgres-1";
    let mut nodes = SshNodes::connect(fleet.inventory(), run).await.expect("connect");
    nodes.arm().await.expect("arm");
    let config = "max_connections = 50\n";
    let postgres =
        NodeSpec { name: "postgres".into(), kind: NodeKind::Postgres, config: config.into() };
    nodes.create(vec![postgres]).await.expect("create");
    let psql = ["psql", "-h", "/run/postgresql", "-U", "postgres", "-tAc", "show max_connections"];
    let shown = common::eventually(Duration::from_secs(20), "psql on host-postgres", || async {
        let out = nodes.exec("postgres", &psql).await.ok()?;
        out.success().then_some(out.stdout)
    })
    .await;
    assert_eq!(shown.trim(), "50", "Postgres runs with the configuration faultline wrote");
    nodes.kill("postgres").await.expect("kill");
    assert_eq!(server_state(&fleet, "host-postgres", run, "postgres").await, "-");
    assert!(!nodes.state("postgres").await.expect("state").running);
    Box::new(nodes).teardown().await.expect("teardown");
    finish(fleet, dir).await;
}
