//! The billing systems under test and the generic Redis workloads, on real containers,
//! judged by the checkers.

use crate::common::{self, redis};
use checkers::history::{AccountId, F, Observed, OpType, Process, StoreStatus, Value};
use checkers::{AnomalyKind, Report, Verdict};
use faultline::cluster::Cluster;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use workloads::billing::{Amounts, BillingConfig, BillingRun, Mix};
use workloads::client::ClientConfig;
use workloads::counter::{CounterConfig, CounterRun};
use workloads::gateway::GatewayConfig;
use workloads::recorder::Recorder;
use workloads::set::{SetConfig, SetRun};

const QUIET: Duration = Duration::from_secs(1);
const PHASE: Duration = Duration::from_secs(60);

/// A history file for one test, and the recorder writing it.
fn recorder(name: &str, header: &checkers::format::Header) -> (Recorder, PathBuf) {
    let dir = std::env::temp_dir().join("faultline-tests");
    std::fs::create_dir_all(&dir).expect("a directory for histories");
    let path = dir.join(format!("{name}-{}.jsonl", std::process::id()));
    let file = File::create(&path).expect("a history file");
    (Recorder::new(header, file).expect("a recorder"), path)
}

/// Finishes recording and checks the history with the suite its header names.
fn check(recorder: &Recorder, path: &PathBuf) -> Report {
    recorder.finish().expect("the history is written");
    let file = File::open(path).expect("the history file");
    let report = checkers::check(BufReader::new(file)).expect("a readable history");
    println!("history: {}\n{report}", path.display());
    report
}

fn anomaly_kinds(report: &Report) -> Vec<AnomalyKind> {
    report.verdict().anomalies().iter().map(|g| g.kind).collect()
}

/// Client operations recorded so far, counting invocations and completions.
async fn wait_for_ops(recorder: &Recorder, more: u64, what: &str) {
    let target = recorder.recorded() + more;
    common::eventually(PHASE, what, || async { (recorder.recorded() >= target).then_some(()) })
        .await;
}

async fn healthy_billing_run(system: &str) {
    let cluster = common::start(Cluster::builder().redis_replicas(2).postgres()).await;
    let config = BillingConfig {
        seed: 11,
        accounts: 100,
        opening: Amounts { min: 1000, max: 1400 },
        clients: ClientConfig {
            workers: 8,
            time_limit: Duration::from_secs(10),
            ..ClientConfig::default()
        },
        ..BillingConfig::default()
    };
    let (recorder, path) = recorder(&format!("healthy-{system}"), &config.header(system));
    let constructor = faultline::designs::builtin().get(system).expect("a built-in system");
    let run = BillingRun::setup(config, &constructor, cluster.endpoints(), recorder.clone())
        .await
        .expect("setup");
    let summary = run.run(&CancellationToken::new()).await;
    let captures = run.gateway().captures();
    let finished = run.finish(QUIET).await;
    assert_eq!(finished.settled, Ok(()));
    let report = check(&recorder, &path);
    println!("{summary:?}, {captures} captures");
    assert!(captures > 0, "no account needed a recharge: the run proves little");
    assert_eq!(report.verdict(), Verdict::Valid, "{system} without faults:\n{report}");
    common::teardown_and_assert_clean(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_is_valid_on_every_checker_without_faults() {
    healthy_billing_run("naive").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failsafe_is_valid_on_every_checker_without_faults() {
    healthy_billing_run("failsafe").await;
}

/// The contended mix: three accounts, a recharge every few operations, payments racing
/// debits on every account, and cards that are never deactivated on the way.
pub fn contended_config(seed: u64) -> BillingConfig {
    BillingConfig {
        seed,
        accounts: 3,
        threshold: 1000,
        recharge: 1000,
        opening: Amounts { min: 1000, max: 1500 },
        debit: Amounts { min: 100, max: 300 },
        mix: Mix { debit: 0.8, payment: 0.1, read: 0.1 },
        payment: Amounts { min: 100, max: 400 },
        gateway: GatewayConfig {
            deactivate_after: 1_000_000,
            declining_cards: 0.0,
            ..GatewayConfig::default()
        },
        clients: ClientConfig {
            workers: 8,
            time_limit: Duration::from_secs(8),
            ..ClientConfig::default()
        },
        ..BillingConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failsafe_keeps_money_right_when_payments_race_debits_on_few_accounts() {
    let cluster = common::start(Cluster::builder().redis_replicas(1).postgres()).await;
    let config = contended_config(5);
    assert!(!config.exclusive_payments);
    let (recorder, path) = recorder("contended-failsafe", &config.header("failsafe"));
    let constructor = faultline::designs::builtin().get("failsafe").expect("a built-in system");
    let run = BillingRun::setup(config, &constructor, cluster.endpoints(), recorder.clone())
        .await
        .expect("setup");
    let summary = run.run(&CancellationToken::new()).await;
    let captures = run.gateway().captures();
    let finished = run.finish(QUIET).await;
    assert_eq!(finished.settled, Ok(()));
    let report = check(&recorder, &path);
    println!("{summary:?}, {captures} captures");
    assert!(captures >= 50, "{captures} captures: the mix did not contend");
    assert_eq!(report.verdict(), Verdict::Valid, "failsafe under contention:\n{report}");
    common::teardown_and_assert_clean(cluster).await;
}

/// Accounts just above the threshold, with recharges small enough that each account
/// needs one every few seconds, so recharges are certainly due while the master is
/// broken; payments are small, so they seldom make a deferred recharge unnecessary.
fn outage_config() -> BillingConfig {
    BillingConfig {
        seed: 2013,
        accounts: 20,
        threshold: 1000,
        recharge: 200,
        opening: Amounts { min: 1000, max: 1200 },
        payment: Amounts { min: 10, max: 50 },
        clients: ClientConfig {
            workers: 8,
            time_limit: Duration::from_secs(300),
            ..ClientConfig::default()
        },
        gateway: GatewayConfig { deactivate_after: 10, ..GatewayConfig::default() },
        ..BillingConfig::default()
    }
}

/// Runs `system` through the 2013 outage by hand: the master restarted with
/// `appendonly yes` and `replicaof` itself (empty, read-only), usage going on, then a
/// replica promoted in its place.
async fn outage_2013(system: &str) -> (Report, Outage) {
    let cluster = common::start(Cluster::builder().redis_replicas(2).postgres()).await;
    let config = outage_config();
    let (recorder, path) = recorder(&format!("outage-{system}"), &config.header(system));
    let constructor = faultline::designs::builtin().get(system).expect("a built-in system");
    let run = BillingRun::setup(config, &constructor, cluster.endpoints(), recorder.clone())
        .await
        .expect("setup");
    let cancel = CancellationToken::new();
    let outage = async {
        wait_for_ops(&recorder, 2000, "usage before the outage").await;
        break_the_master_as_in_2013(&cluster).await;
        wait_for_ops(&recorder, 3000, "usage during the outage").await;
        promote_a_replica(&cluster).await;
        wait_for_ops(&recorder, 1500, "usage after the outage").await;
        cancel.cancel();
    };
    let (summary, ()) = tokio::join!(run.run(&cancel), outage);
    println!("{summary:?}, {} captures", run.gateway().captures());
    run.finish(QUIET).await;
    let report = check(&recorder, &path);
    let outage = outage_in(&path);
    common::teardown_and_assert_clean(cluster).await;
    (report, outage)
}

async fn break_the_master_as_in_2013(cluster: &Cluster) {
    let master = cluster.master();
    let addr = cluster.endpoints().borrow().redis_master;
    let mut conn = redis(addr).await;
    let () = ::redis::cmd("CONFIG")
        .arg("SET")
        .arg("save")
        .arg("3600 1")
        .query_async(&mut conn)
        .await
        .unwrap();
    let () = ::redis::cmd("SAVE").query_async(&mut conn).await.unwrap();
    let own_name = cluster.peer_host(&master).unwrap();
    let config = format!(
        "{}save 3600 1\nappendonly yes\nreplicaof {own_name} 6379\n",
        cluster.config_text(&master).unwrap()
    );
    cluster.restart_with_config(&master, &config).await.expect("the master restarts");

    let mut conn = redis(cluster.endpoints().borrow().redis_master).await;
    let keys: i64 = ::redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(keys, 0, "the restarted master ignored dump.rdb and came up empty");
    let write = ::redis::cmd("SET").arg("k").arg(1).query_async::<()>(&mut conn).await;
    let refused = write.expect_err("the restarted master refuses writes");
    assert_eq!(refused.code(), Some("READONLY"), "{refused}");
}

async fn promote_a_replica(cluster: &Cluster) {
    let replica = cluster.replicas().into_iter().next().expect("a replica");
    let addr = cluster.endpoints().borrow().redis[&replica];
    let () = ::redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query_async(&mut redis(addr).await)
        .await
        .unwrap();
    cluster.set_master(&replica).unwrap();
}

/// What the history shows of the outage: accounts a debit left below the threshold
/// while the store was read-only (recharges due), and accounts charged after it.
struct Outage {
    due: BTreeSet<AccountId>,
    captured_after: BTreeSet<AccountId>,
}

/// Reads the outage from the history. The monitor, which the fail-safe checker trusts,
/// must have seen the store read-only and the balances gone and back; and recharges
/// must have been due during the outage, or the run tested nothing.
fn outage_in(path: &PathBuf) -> Outage {
    let reader =
        checkers::format::HistoryReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
    let (mut store, mut saw) = (StoreStatus::Healthy, [false; 3]);
    let mut outage = Outage { due: BTreeSet::new(), captured_after: BTreeSet::new() };
    let threshold = outage_config().threshold;
    for op in reader.map(Result::unwrap) {
        match (op.process, op.kind, op.value) {
            (Process::Monitor, _, Value::Probe(p)) => {
                store = p.store;
                saw[0] |= p.store == StoreStatus::ReadOnly;
                saw[1] |= !p.missing.is_empty();
                saw[2] |= !p.restored.is_empty();
                if p.store == StoreStatus::ReadOnly {
                    outage.captured_after.clear();
                }
            }
            (Process::Client(_), OpType::Ok, Value::Account(a)) if op.f == F::Debit => {
                let below = matches!(a.balance, Some(Observed::Balance(b)) if b < threshold);
                if store == StoreStatus::ReadOnly && below {
                    outage.due.insert(a.account);
                }
            }
            (Process::Gateway, OpType::Ok, Value::Charge(c)) if store == StoreStatus::Healthy => {
                outage.captured_after.insert(c.account);
            }
            _ => {}
        }
    }
    assert_eq!(saw, [true; 3], "probes saw: read-only, balances missing, balances restored");
    assert!(outage.due.len() >= 3, "recharges were due during the outage on {:?} only", outage.due);
    outage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_is_caught_charging_without_credit_and_recharging_again_in_the_2013_outage() {
    let (report, _) = outage_2013("naive").await;
    let kinds = anomaly_kinds(&report);
    assert!(kinds.contains(&AnomalyKind::ChargeWithoutCredit), "{kinds:?}");
    assert!(
        kinds.contains(&AnomalyKind::OverCharge) || kinds.contains(&AnomalyKind::DuplicateRecharge),
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failsafe_stays_valid_through_the_2013_outage() {
    let (report, outage) = outage_2013("failsafe").await;
    assert_eq!(report.verdict(), Verdict::Valid, "failsafe through the 2013 outage:\n{report}");
    let deferred: Vec<_> = outage.due.intersection(&outage.captured_after).collect();
    assert!(!deferred.is_empty(), "no recharge due during the outage was charged after it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_workload_is_valid_without_faults() {
    let cluster = common::start(Cluster::builder().redis_replicas(1)).await;
    let config = CounterConfig {
        clients: ClientConfig { time_limit: Duration::from_secs(5), ..ClientConfig::default() },
        ..CounterConfig::default()
    };
    let (recorder, path) = recorder("counter", &config.header());
    let run =
        CounterRun::setup(config, cluster.endpoints(), recorder.clone()).await.expect("setup");
    let summary = run.run(&CancellationToken::new()).await;
    assert!(summary.ok > 100, "{summary:?}");
    let report = check(&recorder, &path);
    assert_eq!(report.verdict(), Verdict::Valid, "{report}");
    common::teardown_and_assert_clean(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_set_workload_is_valid_without_faults() {
    let cluster = common::start(Cluster::builder().redis_replicas(1)).await;
    let config = SetConfig {
        clients: ClientConfig { time_limit: Duration::from_secs(5), ..ClientConfig::default() },
        ..SetConfig::default()
    };
    let (recorder, path) = recorder("set", &config.header());
    let run = SetRun::setup(config, cluster.endpoints(), recorder.clone()).await.expect("setup");
    let summary = run.run(&CancellationToken::new()).await;
    let read = run.finish(QUIET).await.expect("the final read succeeds");
    let (read, ok) = (read.len() as u64, summary.ok);
    assert!((ok..=ok + summary.info).contains(&read), "{read} elements after {summary:?}");
    let report = check(&recorder, &path);
    assert_eq!(report.verdict(), Verdict::Valid, "{report}");
    common::teardown_and_assert_clean(cluster).await;
}
