//! Runs on hosts over SSH, against the container fleet (`faultline hosts up`): hosts with
//! sshd, Redis and Postgres run as processes, reached only over SSH. Every fault's
//! effect is observed on the hosts themselves (through the same SSH sessions), the
//! 2013 scenario gives the verdicts it gives on containers, an unsuitable host is
//! refused before anything changes, a dry run changes nothing, and a harness killed
//! mid-partition leaves the hosts healed within the lease.

use crate::common::{Buffer, assert_valid, eventually, redis, remove_store};
use checkers::Validity;
use checkers::format::Header;
use checkers::verdict::AnomalyKind;
use faultline::cluster::{Cluster, ClusterError, SentinelConfig};
use faultline::hosts::fleet::{Fleet, FleetSpec, NOSUDO_USER};
use faultline::hosts::{Inventory, start_cluster};
use faultline::nemesis::{Fault, Nemesis, NemesisError, NodeNeeds, Reach, Storm, Target};
use faultline::runner::{Run, RunOptions};
use faultline::scenario::{Overrides, Scenario};
use faultline::store::Store;
use std::path::Path;
use std::time::{Duration, Instant};
use workloads::recorder::Recorder;
use workloads::sentinel::SentinelWatch;

const EVERYTHING: NodeNeeds = NodeNeeds { nodes: true, iptables: true, netem: true };
/// Every fault but delay and loss, which need netem (not every kernel has it: where one
/// does not, the nemesis reports them unsupported, as on containers).
const NO_NETEM: NodeNeeds = NodeNeeds { netem: false, ..EVERYTHING };

/// A fresh scratch directory for a fleet's key and inventory, or a store.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("faultline-test-hosts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn fleet(spec: FleetSpec, dir: &Path) -> Fleet {
    match Fleet::start(&spec, dir).await {
        Ok(fleet) => fleet,
        Err(e) => panic!("this test needs Docker and faultline's images: {e}"),
    }
}

/// Runs `script` on the host of the fleet named `host`, or running node `host`, over SSH
/// as the fleet's user, with sudo: what is on the host, seen from outside the harness's
/// own sessions.
async fn on_host(fleet: &Fleet, host: &str, script: &str) -> String {
    let resolved = fleet.inventory().resolved();
    let name = resolved.iter().find(|h| h.node == host).map_or(host, |h| h.name.as_str());
    let mut ssh = fleet.ssh(name, faultline::hosts::fleet::USER).expect("a host of the fleet");
    let out = ssh
        .arg("sudo")
        .arg("-n")
        .arg("sh")
        .arg("-c")
        .arg(shlex::try_quote(script).unwrap().as_ref())
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every run directory, rule and process faultline left on the fleet's hosts.
async fn leftovers(fleet: &Fleet) -> Vec<String> {
    let mut left = Vec::new();
    for host in fleet.addresses().keys() {
        let script = "ls /var/lib/faultline 2>/dev/null; iptables -w -S | grep -i faultline; \
                      pgrep -a redis-server; pgrep -a postgres; true";
        let out = on_host(fleet, host, script).await;
        left.extend(out.lines().map(|l| format!("{host}: {l}")));
    }
    left
}

fn scenario(name: &str, seed: Option<u64>) -> Scenario {
    Scenario::load(name).unwrap().resolve(&Overrides { seed, ..Overrides::default() }).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_2013_over_ssh_gives_the_verdicts_it_gives_on_containers() {
    let dir = scratch("twilio");
    let fleet = fleet(FleetSpec::default(), &dir).await;
    let options = || RunOptions {
        store: Store::new(dir.join("store")),
        hosts: Some(fleet.inventory().clone()),
        ..RunOptions::default()
    };
    let naive =
        Run::new(scenario("twilio-2013", None), "naive", options()).execute().await.unwrap();
    let report = &naive.report;
    assert_eq!(report.validity(), Validity::Invalid, "{report}");
    for (checker, kind) in [
        ("charge-without-credit", AnomalyKind::ChargeWithoutCredit),
        ("over-charge", AnomalyKind::OverCharge),
        ("wrongful-suspension", AnomalyKind::WrongfulSuspension),
        ("fail-safe", AnomalyKind::UnsafeCharge),
    ] {
        let result = report.result(checker).unwrap_or_else(|| panic!("no {checker}: {report}"));
        let kinds: Vec<AnomalyKind> = result.verdict.anomalies().iter().map(|g| g.kind).collect();
        assert!(kinds.contains(&kind), "{checker} found no {kind:?}:\n{report}");
    }
    assert!(leftovers(&fleet).await.is_empty(), "{:?}", leftovers(&fleet).await);
    remove_store(&naive);
    let failsafe = Run::new(scenario("twilio-2013", None), "failsafe", options()).execute().await;
    let failsafe = failsafe.unwrap();
    assert_valid(&failsafe);
    remove_store(&failsafe);
    assert!(leftovers(&fleet).await.is_empty(), "{:?}", leftovers(&fleet).await);
    fleet.teardown().await.unwrap();
}

/// A cluster on the fleet's hosts, a nemesis recording into memory.
async fn cluster_on(fleet: &Fleet, builder: faultline::cluster::ClusterBuilder) -> Cluster {
    start_cluster(builder, fleet.inventory(), NO_NETEM).await.expect("a cluster on the fleet")
}

fn recorder() -> Recorder {
    Recorder::new(&Header::new(Default::default()), Buffer::default()).unwrap()
}

/// What `fault` (started as fault `id`) must have done on the hosts, checked there.
async fn assert_on_host(
    fleet: &Fleet,
    cluster: &Cluster,
    fault: &Fault,
    id: u32,
    targets: &[String],
) {
    let tag = format!("--comment faultline-{id} ");
    let run = cluster.run_id();
    let rules =
        |host: String| async move { on_host(fleet, &host, "iptables -w -S FAULTLINE").await };
    let host_of = |node: &str| node.to_string();
    match fault.needs() {
        n if n.iptables => {
            let mut seen = 0;
            for node in cluster.node_names() {
                seen += rules(host_of(&node)).await.matches(&tag).count();
            }
            assert!(
                seen > 0,
                "{}: no rule tagged {tag} in any host's FAULTLINE chain",
                fault.name()
            );
        }
        n if n.netem => {
            for node in targets {
                let qdisc = on_host(fleet, node, "tc qdisc show dev eth0").await;
                assert!(
                    qdisc.contains("netem"),
                    "{}: {node} has no netem qdisc: {qdisc}",
                    fault.name()
                );
            }
        }
        _ => {}
    }
    let pid = |node: &str| format!("/var/lib/faultline/{run}/{node}.pid");
    match fault {
        Fault::Kill { .. } | Fault::Stop { .. } => {
            for node in targets {
                let alive =
                    on_host(fleet, node, &format!("kill -0 $(cat {}) && echo alive", pid(node)))
                        .await;
                assert!(!alive.contains("alive"), "{}: {node} still runs", fault.name());
            }
        }
        Fault::Pause { .. } => {
            for node in targets {
                let stat =
                    on_host(fleet, node, &format!("ps -o stat= -p $(cat {})", pid(node))).await;
                assert!(stat.trim_start().starts_with('T'), "{node} is not stopped: {stat}");
                let paused =
                    on_host(fleet, node, &format!("cat /var/lib/faultline/{run}/paused")).await;
                assert!(!paused.trim().is_empty(), "{node}'s group is not in `paused`");
            }
        }
        Fault::RestartAofMissing { .. } | Fault::Restart2013 { .. } => {
            for node in targets {
                let conf = on_host(fleet, node, "cat /etc/faultline/redis.conf").await;
                assert!(conf.contains("appendonly yes"), "{node}: {conf}");
            }
        }
        Fault::RestartSelfReplica { .. } => {
            for node in targets {
                let own = cluster.ip(node).await.unwrap();
                let conf = on_host(fleet, node, "cat /etc/faultline/redis.conf").await;
                assert!(conf.contains(&format!("replicaof {own} 6379")), "{node}: {conf}");
            }
        }
        Fault::PostgresAsyncCommit => {
            let conf = on_host(fleet, "postgres", "cat /etc/faultline/postgresql.conf").await;
            assert!(conf.contains("synchronous_commit = 'off'"), "{conf}");
        }
        Fault::Failover { .. } => {
            for node in targets.iter().take(1) {
                let role = on_host(fleet, node, "redis-cli INFO replication | grep ^role:").await;
                assert!(role.contains("role:master"), "{node}: {role}");
            }
        }
        _ => {}
    }
}

/// Every fault of the catalogue that acts on Redis and Postgres nodes without Sentinel
/// (the Sentinel one has its own test; the gateway's and the service's act on no host).
#[tokio::test(flavor = "multi_thread")]
async fn every_fault_of_the_catalogue_takes_effect_on_the_hosts_and_heals() {
    let dir = scratch("faults");
    let fleet = fleet(FleetSpec::default(), &dir).await;
    let builder = Cluster::builder().redis_replicas(2).postgres();
    let cluster = cluster_on(&fleet, builder).await;
    let mut nemesis = Nemesis::new(&cluster, recorder(), 7).await.unwrap();
    let faults: Vec<Fault> = Fault::catalogue()
        .into_iter()
        .filter(|f| f.needs().nodes)
        .filter(|f| !matches!(f, Fault::IsolateMaster | Fault::PartitionService { .. }))
        .collect();
    assert!(faults.len() >= 20, "{faults:?}");
    for fault in &faults {
        // Keys on the master, so a fault that loses data has data to lose.
        let mut master = redis(cluster.endpoints().borrow().redis_master).await;
        let pairs: Vec<(String, u32)> = (0..100).map(|i| (format!("key-{i}"), i)).collect();
        let () = redis::cmd("MSET").arg(&pairs).query_async(&mut master).await.unwrap();
        let fault = &match fault {
            // Loops need a snapshot bigger than the replicas' output buffer, and time.
            Fault::ResyncLoop(storm) => {
                let populate = ["redis-cli", "DEBUG", "POPULATE", "300000"];
                let out = cluster.exec(&cluster.master(), &populate).await.unwrap();
                assert!(out.success(), "{}", out.stderr);
                cluster.wait_replication(Duration::from_secs(60)).await.unwrap();
                let watch = Some(Duration::from_secs(15));
                Fault::ResyncLoop(Storm { watch, ..storm.clone() })
            }
            other => other.clone(),
        };
        let id = match nemesis.start(fault).await {
            Ok(id) => id,
            Err(NemesisError::Unsupported { reason, .. }) if fault.needs().netem => {
                assert!(reason.contains("netem"), "{}: {reason}", fault.name());
                continue;
            }
            Err(e) => panic!("{}: {e}", fault.name()),
        };
        let targets = nemesis.targets(id);
        assert_on_host(&fleet, &cluster, fault, id, &targets).await;
        if let Fault::SplitBrain { .. } = fault {
            // The old master takes the clients' writes while split off.
            let mut old = redis(cluster.endpoints().borrow().redis_master).await;
            let () = redis::cmd("MSET").arg(&pairs).query_async(&mut old).await.unwrap();
        }
        nemesis.heal(id).await.unwrap_or_else(|e| panic!("{} did not heal: {e}", fault.name()));
        let reach = nemesis.reachability().get(id).cloned();
        assert_eq!(reach, Some(Reach::Observed), "{} on {targets:?}", fault.name());
        let rules =
            on_host(&fleet, "redis-0", "iptables -w -S FAULTLINE | grep -c -- '-A' || true").await;
        assert_eq!(rules.trim(), "0", "{} left rules on redis-0", fault.name());
    }
    nemesis.heal_all().await.unwrap();
    drop(nemesis);
    cluster.teardown().await.unwrap();
    assert!(leftovers(&fleet).await.is_empty(), "{:?}", leftovers(&fleet).await);
    fleet.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn isolating_the_master_with_sentinel_over_ssh_fails_over_and_demotes_it() {
    let dir = scratch("sentinel");
    let spec = FleetSpec { sentinels: 3, postgres: false, ..FleetSpec::default() };
    let fleet = fleet(spec, &dir).await;
    let sentinel = SentinelConfig { down_after_milliseconds: Some(1000), ..Default::default() };
    let builder = Cluster::builder().redis_replicas(2).sentinels(3, sentinel);
    let cluster = cluster_on(&fleet, builder).await;
    let recorder = recorder();
    let watch =
        SentinelWatch::start(cluster.endpoints(), recorder.clone(), cluster.master_follower());
    let mut nemesis = Nemesis::new(&cluster, recorder, 7).await.unwrap();
    // The master cut off with one sentinel takes writes until Sentinel elects another.
    let old = cluster.master();
    let mut conn = redis(cluster.endpoints().borrow().redis[&old]).await;
    let () = redis::cmd("SET").arg("k").arg(0).query_async(&mut conn).await.unwrap();
    let _: i64 = redis::cmd("WAIT").arg(2).arg(2000).query_async(&mut conn).await.unwrap();
    let id = nemesis.start(&Fault::IsolateMaster).await.unwrap();
    let cut = Instant::now();
    let mut acknowledged = 0;
    while cluster.master() == old {
        assert!(cut.elapsed() < Duration::from_secs(30), "no failover within 30 s of the cut");
        let incr: Result<i64, _> = redis::cmd("INCR").arg("k").query_async(&mut conn).await;
        acknowledged = incr.map_or(acknowledged, |v| v);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(acknowledged > 0, "the cut-off master took no write");
    let targets = nemesis.targets(id);
    assert_on_host(&fleet, &cluster, &Fault::IsolateMaster, id, &targets).await;
    nemesis.heal(id).await.unwrap();
    assert_eq!(nemesis.reachability().get(id), Some(&Reach::Observed));
    // A sentinel killed on its host, and started again.
    let kill = Fault::Kill { target: Target::Node("sentinel-1".into()) };
    let id = nemesis.start(&kill).await.unwrap();
    assert_on_host(&fleet, &cluster, &kill, id, &nemesis.targets(id)).await;
    nemesis.heal(id).await.unwrap();
    assert_eq!(nemesis.reachability().get(id), Some(&Reach::Observed));
    nemesis.heal_all().await.unwrap();
    drop(nemesis);
    watch.stop().await;
    cluster.teardown().await.unwrap();
    assert!(leftovers(&fleet).await.is_empty(), "{:?}", leftovers(&fleet).await);
    fleet.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_that_cannot_take_the_faults_is_refused_before_anything_changes() {
    let dir = scratch("refusal");
    let spec = FleetSpec { nosudo: Some("redis-1".into()), ..FleetSpec::default() };
    let fleet = fleet(spec, &dir).await;
    let mut inventory: Inventory = fleet.inventory().clone();
    inventory.hosts[2].settings.allow_faults = Some(false);
    let builder = Cluster::builder().redis_replicas(2).postgres();
    let error = match start_cluster(builder, &inventory, EVERYTHING).await {
        Ok(_) => panic!("a host without sudo and one that forbids faults were accepted"),
        Err(e) => e,
    };
    let ClusterError::Unsuitable(problems) = &error else { panic!("{error}") };
    let host = |node: &str| inventory.resolved().into_iter().find(|h| h.node == node).unwrap().name;
    assert!(
        problems.lines().any(|l| l.contains(&host("redis-1")) && l.contains("sudo")),
        "{problems}"
    );
    assert!(
        problems.lines().any(|l| l.contains(&host("redis-2")) && l.contains("allow_faults")),
        "{problems}"
    );
    let _ = NOSUDO_USER;
    assert!(leftovers(&fleet).await.is_empty(), "{:?}", leftovers(&fleet).await);
    let builder = Cluster::builder().redis_replicas(1).postgres();
    let error = start_cluster(builder, fleet.inventory(), EVERYTHING).await.err().expect("refused");
    assert!(error.to_string().contains("a master and 1 replicas"), "{error}");
    fleet.teardown().await.unwrap();
}

/// The hosts' FAULTLINE chains hold some rule, or some group is paused.
async fn faults_in_place(fleet: &Fleet) -> bool {
    for host in fleet.addresses().keys() {
        let script = "iptables -w -S FAULTLINE 2>/dev/null | grep -c -- '-A FAULTLINE' ; \
                      cat /var/lib/faultline/*/paused 2>/dev/null | grep -c . ; true";
        let counts = on_host(fleet, host, script).await;
        if counts.split_whitespace().any(|n| n != "0") {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn a_harness_killed_mid_partition_leaves_the_hosts_healed_within_the_lease() {
    let dir = scratch("lease");
    let fleet = fleet(FleetSpec::default(), &dir).await;
    let lease = Duration::from_secs(6);
    let mut inventory = fleet.inventory().clone();
    inventory.lease = lease;
    let path = dir.join("short-lease.toml");
    std::fs::write(&path, toml::to_string(&inventory).unwrap()).unwrap();
    let mut harness = tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--scenario", "partition-replicas", "--sut", "naive", "--hosts"])
        .arg(&path)
        .arg("--store")
        .arg(dir.join("store"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(90), "the partition to be in place on the hosts", || async {
        faults_in_place(&fleet).await.then_some(())
    })
    .await;
    harness.start_kill().unwrap();
    let killed = std::time::SystemTime::now();
    harness.wait().await.unwrap();
    eventually(
        lease + Duration::from_secs(15),
        "the dead-man switches to heal the hosts",
        || async { (!faults_in_place(&fleet).await).then_some(()) },
    )
    .await;
    // When each switch healed, from its own log (the fleet's hosts share this clock): the
    // lease runs from the last renewal, at most a third of it before the kill, and the
    // switch looks every second.
    let mut latest = Duration::ZERO;
    for host in fleet.addresses().keys() {
        let log = on_host(&fleet, host, "cat /var/lib/faultline/*/switch.log").await;
        let line = log.lines().find(|l| l.ends_with("healed; exiting"));
        let line = line.unwrap_or_else(|| panic!("{host}'s switch did not heal:\n{log}"));
        let at = humantime::parse_rfc3339(line.split(' ').next().unwrap()).unwrap();
        latest = latest.max(at.duration_since(killed).unwrap_or_default());
    }
    println!("healed {:.2} s after the harness was killed (lease {lease:?})", latest.as_secs_f64());
    assert!(latest <= lease + Duration::from_millis(1500), "healed {latest:?} after the kill");
    let clean = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--hosts"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(leftovers(&fleet).await.is_empty(), "{:?}", leftovers(&fleet).await);
    fleet.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_prints_every_host_command_in_order_and_changes_nothing() {
    let dir = scratch("dry-run");
    let fleet = fleet(FleetSpec::default(), &dir).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--scenario", "twilio-2013", "--dry-run", "--hosts"])
        .arg(fleet.inventory_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let at =
        |needle: &str| text.find(needle).unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"));
    // Set up first, then the schedule in time order, then the teardown.
    assert!(at("dead-man switch") < at("redis-server /etc/faultline/redis.conf"), "{text}");
    assert!(
        at("resync-storm") < at("restart-2013") && at("restart-2013") < at("failover"),
        "{text}"
    );
    assert!(at("-A FAULTLINE") < at("restart-2013"), "the storm's rules come first:\n{text}");
    assert!(at("appendonly yes") > at("restart-2013"), "the bad config is written:\n{text}");
    assert!(at("teardown") > at("failover"), "{text}");
    assert!(leftovers(&fleet).await.is_empty(), "{:?}", leftovers(&fleet).await);
    fleet.teardown().await.unwrap();
}
