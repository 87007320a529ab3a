//! Redis Sentinel end to end: the bundled Sentinel scenarios against `naive` and
//! `failsafe`, and what `min-replicas-to-write` buys. Seeds are pinned.

use crate::common::{assert_valid, remove_store};
use checkers::Validity;
use checkers::verdict::AnomalyKind;
use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario, WorkloadKind};
use faultline::store::Store;
use std::sync::atomic::{AtomicU32, Ordering};
use workloads::counter::CounterConfig;

async fn run(scenario: &str, sut: &str) -> RunOutcome {
    let scenario = Scenario::load(scenario).expect("a bundled scenario");
    run_scenario(scenario, sut).await
}

async fn run_scenario(scenario: Scenario, sut: &str) -> RunOutcome {
    let scenario = scenario
        .resolve(&Overrides::default())
        .expect("the bundled scenario fits its own time limit");
    // One store per run: a passing test removes its store while others still run, and
    // two tests may run one scenario against one system.
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let root = std::env::temp_dir().join(format!(
        "faultline-test-{}-{sut}-{}-{}",
        scenario.name,
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let options = RunOptions { store: Store::new(root.clone()), ..RunOptions::default() };
    crate::common::verdict_of(Run::new(scenario, sut, options), &root).await
}

/// The group of `lost-write` anomalies reconciliation found.
fn lost_write_group(outcome: &RunOutcome) -> checkers::AnomalyGroup {
    let result = outcome.report.result("reconciliation").expect("a reconciliation row");
    let groups = result.verdict.anomalies();
    groups.iter().find(|g| g.kind == AnomalyKind::LostWrite).expect("a lost-write").clone()
}

/// The `lost-write` anomalies reconciliation found: (count, first explanation).
fn lost_writes(outcome: &RunOutcome) -> (u64, String) {
    let report = &outcome.report;
    let result = report.result("reconciliation").expect("a reconciliation row");
    result
        .verdict
        .anomalies()
        .iter()
        .find(|g| g.kind == AnomalyKind::LostWrite)
        .map_or((0, String::new()), |g| (g.count, g.first.explanation.clone()))
}

/// Every fault took effect, and Sentinel failed over at least once.
fn assert_sentinel_did_its_part(outcome: &RunOutcome) {
    assert!(
        outcome.reach.ineffective().is_empty(),
        "faults without effect: {:?}\n{}",
        outcome.reach.ineffective(),
        outcome.report
    );
    let history = std::fs::read_to_string(outcome.dir.file("history.jsonl")).unwrap();
    assert!(
        history.contains("\"process\":\"sentinel\"") && history.contains("+switch-master"),
        "no +switch-master from Sentinel in {}",
        outcome.dir.path().display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_partition_loses_the_acknowledged_writes_naive_made_on_the_cut_off_master() {
    let outcome = run("sentinel-partition", "naive").await;
    assert_eq!(outcome.report.validity(), Validity::Invalid, "{}", outcome.report);
    assert_sentinel_did_its_part(&outcome);
    let (lost, first) = lost_writes(&outcome);
    assert!(lost > 0, "no lost-write anomaly:\n{}", outcome.report);
    let group = lost_write_group(&outcome);
    let [invoked, completed, witness] = group.first.ops[..] else {
        panic!("a lost-write names its invocation, completion and witness: {:?}", group.first)
    };
    assert!(witness < invoked && invoked < completed, "{:?}", group.first);
    let history = std::fs::read_to_string(outcome.dir.file("history.jsonl")).unwrap();
    let witnessed = history
        .lines()
        .find(|l| l.starts_with(&format!("{{\"index\":{witness},")))
        .expect("the witness is in the history");
    assert!(
        witnessed.contains("\"type\":\"ok\"")
            && (witnessed.contains("\"f\":\"debit\"") || witnessed.contains("\"f\":\"payment\"")),
        "the witness is an acknowledged debit or payment: {witnessed}"
    );
    println!("sentinel-partition, naive: {lost} lost-write anomalies; first: {first}");
    remove_store(&outcome);
}

/// Jepsen's counter, kept in Redis alone (INCRBY on the master Sentinel names), through
/// `scenario`'s split.
async fn counter_through(scenario: &str) -> RunOutcome {
    let mut scenario = Scenario::load(scenario).expect("a bundled scenario");
    let clients = scenario.billing.take().expect("a billing scenario").clients;
    scenario.workload = WorkloadKind::Counter;
    scenario.counter = Some(CounterConfig { clients, ..CounterConfig::default() });
    run_scenario(scenario, "redis").await
}

/// The counter's anomalies: how many reads missed acknowledged increments, and the
/// most any read missed (the sum of the increments lost).
fn missed_increments(outcome: &RunOutcome) -> (u64, u64) {
    let result = outcome.report.result("counter").expect("a counter row");
    result.verdict.anomalies().first().map_or((0, 0), |g| (g.count, g.worst.magnitude as u64))
}

/// A figure of the heal's effect of `isolate-master`.
fn isolation_effect(outcome: &RunOutcome, key: &str) -> i64 {
    let history = std::fs::read_to_string(outcome.dir.file("history.jsonl")).unwrap();
    let ops = history.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    let mut figures = ops.filter_map(|op| op["value"]["effect"][key].as_i64());
    figures.next_back().unwrap_or_else(|| panic!("no {key} in {}", outcome.dir.path().display()))
}

/// A counter kept in Redis alone loses the increments the cut-off master acknowledged
/// (reads after the switch miss them, witnessed); with `min-replicas-to-write` the
/// cut-off master refuses writes (`NOREPLICAS`, which the counter fails) sooner after
/// the cut than it stops taking them without it, when the clients move on.
#[tokio::test(flavor = "multi_thread")]
async fn a_counter_in_redis_alone_loses_acknowledged_increments_and_min_replicas_bounds_them() {
    let without = counter_through("sentinel-partition").await;
    assert_eq!(without.report.validity(), Validity::Invalid, "{}", without.report);
    assert_sentinel_did_its_part(&without);
    let result = without.report.result("counter").expect("a counter row");
    let group = result.verdict.anomalies().first().expect("an anomaly");
    assert!(group.first.ops.len() >= 2, "no witnesses: {:?}", group.first);
    println!("sentinel-partition, counter: first: {}", group.first.explanation);
    let with = counter_through("sentinel-partition-mitigated").await;
    assert_sentinel_did_its_part(&with);
    let until = "old_master_changed_keys_until_ms";
    let (until_without, until_with) =
        (isolation_effect(&without, until), isolation_effect(&with, until));
    let changes = "changes_on_old_master";
    let (changes_without, changes_with) =
        (isolation_effect(&without, changes), isolation_effect(&with, changes));
    let ((_, lost_without), (_, lost_with)) =
        (missed_increments(&without), missed_increments(&with));
    println!(
        "the cut-off master changed keys until {until_without} ms after the cut without \
         min-replicas ({changes_without} changes; increments lost {lost_without}), until \
         {until_with} ms with it ({changes_with} changes; increments lost {lost_with})"
    );
    assert!(lost_without > 0, "the split lost nothing to mitigate:\n{}", without.report);
    // Throughput differs from run to run on a shared machine, so the comparison is of
    // how long the cut-off master took writes, not of how many it took.
    assert!(
        until_with < until_without,
        "with min-replicas the cut-off master took writes for as long as without"
    );
    remove_store(&without);
    remove_store(&with);
}

macro_rules! failsafe_is_valid {
    ($($test:ident: $scenario:literal,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                let outcome = run($scenario, "failsafe").await;
                assert_valid(&outcome);
                assert_sentinel_did_its_part(&outcome);
                remove_store(&outcome);
            }
        )*
    };
}

failsafe_is_valid! {
    failsafe_is_valid_on_sentinel_partition: "sentinel-partition",
    failsafe_is_valid_on_sentinel_partition_mitigated: "sentinel-partition-mitigated",
    failsafe_is_valid_on_sentinel_kill_master: "sentinel-kill-master",
    failsafe_is_valid_on_sentinel_flapping: "sentinel-flapping",
}

/// Sentinel's faults on one cluster, each healed before the next, each judged by what
/// the containers say: a failover after `kill -9` of the master, the master cut off with
/// a minority of the sentinels (its acknowledged writes gone once it is demoted), and
/// a sentinel paused and restarted.
mod faults {
    use crate::common::{self, Buffer, eventually, redis};
    use checkers::format::Header;
    use faultline::cluster::{Cluster, MASTER_NAME, SentinelConfig};
    use faultline::nemesis::{Fault, Nemesis, Reach, Target};
    use std::time::{Duration, Instant};
    use workloads::recorder::Recorder;
    use workloads::sentinel::SentinelWatch;

    /// What `sentinel` answers to `SENTINEL get-master-addr-by-name`, as a node name.
    async fn named_master(cluster: &Cluster, sentinel: &str) -> Option<String> {
        let addr = cluster.sentinel_addr(sentinel).unwrap();
        let mut conn = redis(addr).await;
        let answer: Vec<String> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(MASTER_NAME)
            .query_async(&mut conn)
            .await
            .ok()?;
        let endpoints = cluster.endpoints().borrow().clone();
        let sentinels = endpoints.sentinel.expect("Sentinel's endpoints");
        sentinels.node_at(&answer[0], answer[1].parse().ok()?).map(String::from)
    }

    /// The flags `sentinel` gives its peer `other` (`sentinel`, `s_down,sentinel`, ...).
    async fn peer_flags(cluster: &Cluster, sentinel: &str, other: &str) -> String {
        let ip = cluster.ip(other).await.unwrap().to_string();
        let mut conn = redis(cluster.sentinel_addr(sentinel).unwrap()).await;
        let peers: Vec<Vec<String>> = redis::cmd("SENTINEL")
            .arg("sentinels")
            .arg(MASTER_NAME)
            .query_async(&mut conn)
            .await
            .unwrap();
        let field = |peer: &[String], key: &str| {
            peer.chunks(2).find(|kv| kv[0] == key).map(|kv| kv[1].clone()).unwrap_or_default()
        };
        let peer = peers.iter().find(|p| field(p, "ip") == ip).expect("the peer is known");
        field(peer, "flags")
    }

    async fn role(cluster: &Cluster, node: &str) -> String {
        let out = cluster.exec(node, &["redis-cli", "ROLE"]).await.unwrap();
        out.stdout.lines().next().unwrap_or_default().to_string()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn sentinel_faults_show_their_effect_inside_the_containers() {
        let config = SentinelConfig { down_after_milliseconds: Some(1000), ..Default::default() };
        let cluster =
            common::start(Cluster::builder().redis_replicas(2).sentinels(3, config)).await;
        for sentinel in cluster.sentinel_nodes() {
            assert_eq!(named_master(&cluster, &sentinel).await.as_deref(), Some("redis-0"));
        }
        let history = Buffer::default();
        let recorder = Recorder::new(&Header::new(Default::default()), history.clone()).unwrap();
        let watch =
            SentinelWatch::start(cluster.endpoints(), recorder.clone(), cluster.master_follower());
        let mut nemesis = Nemesis::new(&cluster, recorder.clone(), 3).await.expect("a nemesis");

        // kill -9 of the master: Sentinel elects a replica, the harness follows its word.
        let killed = Instant::now();
        let id = nemesis.start(&Fault::Kill { target: Target::master() }).await.unwrap();
        let new = eventually(Duration::from_secs(20), "Sentinel to fail over", || async {
            let master = cluster.master();
            (master != "redis-0").then_some(master)
        })
        .await;
        let failover = killed.elapsed();
        assert_eq!(role(&cluster, &new).await, "master");
        for sentinel in cluster.sentinel_nodes() {
            let named = named_master(&cluster, &sentinel).await;
            assert_eq!(named.as_deref(), Some(new.as_str()), "{sentinel}");
        }
        nemesis.heal(id).await.unwrap();
        assert_eq!(role(&cluster, "redis-0").await, "slave", "the old master rejoins as a replica");
        println!("Sentinel failed over {failover:?} after kill -9 of the master");

        // The master cut off with one sentinel: it takes writes, a new master is elected,
        // and once demoted the old master has thrown those writes away.
        cluster.wait_replication(Duration::from_secs(30)).await.unwrap();
        let old = cluster.master();
        let mut conn = redis(cluster.endpoints().borrow().redis[&old]).await;
        let () = redis::cmd("SET").arg("k").arg(0).query_async(&mut conn).await.unwrap();
        let _: i64 = redis::cmd("WAIT").arg(2).arg(2000).query_async(&mut conn).await.unwrap();
        let id = nemesis.start(&Fault::IsolateMaster).await.unwrap();
        let mut acknowledged = 0;
        let cut = Instant::now();
        while cluster.master() == old {
            assert!(cut.elapsed() < Duration::from_secs(30), "no failover within 30 s of the cut");
            let incr: Result<i64, _> = redis::cmd("INCR").arg("k").query_async(&mut conn).await;
            acknowledged = incr.map_or(acknowledged, |v| v);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(acknowledged > 0, "the cut-off master took no write");
        nemesis.heal(id).await.unwrap();
        assert_eq!(nemesis.reachability().get(id), Some(&Reach::Observed));
        assert_eq!(role(&cluster, &old).await, "slave", "Sentinel demoted the old master");
        let new = cluster.master();
        let mut conn = redis(cluster.endpoints().borrow().redis[&new]).await;
        let kept: i64 = redis::cmd("GET").arg("k").query_async(&mut conn).await.unwrap();
        let lost = acknowledged - kept;
        println!("the cut-off master acknowledged {acknowledged} INCRs; {lost} were lost");
        assert!(lost > 0, "no acknowledged write was lost ({kept} kept)");

        // A sentinel paused, then restarted: silent, then back with a new process.
        let pause = Fault::Pause { target: Target::Node("sentinel-1".into()) };
        let id = nemesis.start(&pause).await.unwrap();
        assert_eq!(nemesis.reachability().get(id), Some(&Reach::Observed));
        nemesis.heal(id).await.unwrap();
        let restart = Fault::Restart { target: Target::Node("sentinel-2".into()) };
        let id = nemesis.start(&restart).await.unwrap();
        assert_eq!(nemesis.reachability().get(id), Some(&Reach::Observed));
        nemesis.heal(id).await.unwrap();

        // A sentinel cut off from every other node: its peers call it down, and up again
        // once healed.
        let cut = Fault::PartitionMinority { target: Target::Node("sentinel-0".into()) };
        let id = nemesis.start(&cut).await.unwrap();
        assert_eq!(nemesis.reachability().get(id), Some(&Reach::Observed));
        let down = Duration::from_secs(20);
        eventually(down, "sentinel-1 to call sentinel-0 down", || async {
            peer_flags(&cluster, "sentinel-1", "sentinel-0").await.contains("s_down").then_some(())
        })
        .await;
        nemesis.heal(id).await.unwrap();
        eventually(down, "sentinel-1 to see sentinel-0 again", || async {
            (peer_flags(&cluster, "sentinel-1", "sentinel-0").await == "sentinel").then_some(())
        })
        .await;

        // kill -9 of a sentinel: silent until the heal starts it again.
        let kill = Fault::Kill { target: Target::Node("sentinel-0".into()) };
        let id = nemesis.start(&kill).await.unwrap();
        assert_eq!(nemesis.reachability().get(id), Some(&Reach::Observed));
        nemesis.heal(id).await.unwrap();
        assert!(named_master(&cluster, "sentinel-0").await.is_some(), "sentinel-0 is back");
        nemesis.heal_all().await.unwrap();
        drop(nemesis);
        watch.stop().await;
        recorder.finish().unwrap();
        let text = String::from_utf8(history.0.lock().unwrap().clone()).unwrap();
        for event in ["+sdown", "+odown", "+switch-master", "+convert-to-slave"] {
            assert!(text.contains(&format!("\"event\":\"{event}\"")), "no {event} recorded");
        }
        common::teardown_and_assert_clean(cluster).await;
    }
}
