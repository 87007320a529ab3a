//! A second correct design, `ledger-first` (in `designs`), written from `workloads`'
//! public API and registered by the test, judged valid like `failsafe`: the checkers do
//! not flag a correct system merely for being built otherwise.

use crate::common;
use crate::designs;
use checkers::Verdict;
use checkers::history::{F, Observed, Op, OpType, Phase, PhaseName, Process, Value};
use faultline::cluster::Cluster;
use faultline::runner::RunOutcome;
use std::fs::File;
use std::io::BufReader;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use workloads::billing::BillingRun;
use workloads::recorder::Recorder;

async fn run(scenario: &str, seed: u64) -> RunOutcome {
    let outcome = designs::run(scenario, "ledger-first", seed).await;
    crate::common::assert_valid(&outcome);
    crate::common::remove_store(&outcome);
    outcome
}

macro_rules! ledger_first_is_valid_through {
    ($($name:ident: $scenario:expr, $seed:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            run($scenario, $seed).await;
        }
    )*};
}

ledger_first_is_valid_through! {
    ledger_first_is_valid_through_twilio_2013: "twilio-2013", 2013;
    ledger_first_is_valid_through_postgres_restart: "postgres-restart", 7;
    ledger_first_is_valid_through_partition_replicas: "partition-replicas", 7;
    ledger_first_is_valid_through_kill_master: "kill-master", 7;
    ledger_first_is_valid_through_pause_master: "pause-master", 7;
    ledger_first_is_valid_through_failover: "failover", 7;
    ledger_first_is_valid_through_split_brain: "split-brain", 7;
    ledger_first_is_valid_through_random: "random", 7;
    ledger_first_is_valid_through_gateway_lost_response: "gateway-lost-response", 11;
    ledger_first_is_valid_through_gateway_flaky: "gateway-flaky", 12;
}

/// A contended mix with payments racing debits and no fault: few accounts, a recharge
/// every few operations; the harness reads the final states through ledger-first's own
/// key layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_first_is_valid_under_contention_and_read_through_its_own_layout() {
    let cluster = common::start(Cluster::builder().redis_replicas(1).postgres()).await;
    let config = crate::billing::contended_config(5);
    let dir = std::env::temp_dir().join("faultline-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("ledger-first-contended-{}.jsonl", std::process::id()));
    let recorder =
        Recorder::new(&config.header("ledger-first"), File::create(&path).unwrap()).unwrap();
    let constructor = designs::registry().get("ledger-first").unwrap();
    let run = BillingRun::setup(config, &constructor, cluster.endpoints(), recorder.clone())
        .await
        .expect("setup");
    let summary = run.run(&CancellationToken::new()).await;
    let recovery = run.recover(Duration::from_secs(2), &CancellationToken::new()).await;
    let captures = run.gateway().captures();
    let finished = run.finish(Duration::from_millis(500)).await;
    assert_eq!(finished.settled, Ok(()));
    recorder.finish().unwrap();
    let report =
        checkers::check(BufReader::new(File::open(&path).unwrap())).expect("a readable history");
    println!(
        "history: {}\n{summary:?}, recovery {recovery:?}, {captures} captures\n{report}",
        path.display()
    );
    assert!(captures >= 50, "{captures} captures: the mix did not contend");
    assert!(recovery.ok > 0, "{recovery:?}");
    for f in &finished.finals {
        assert!(matches!(f.in_flight, Some(Observed::Balance(_))), "{f:?}");
        let both = (f.in_flight.as_ref(), f.entries.as_ref());
        assert_eq!(both, (Some(&f.ledger), Some(&f.ledger)), "{f:?}");
        assert!(!f.credited.is_empty(), "{f:?}");
    }
    assert_eq!(report.verdict(), Verdict::Valid, "{report}");
    harness_operations_are_recorded(&path);
    std::fs::remove_file(&path).unwrap();
    common::teardown_and_assert_clean(cluster).await;
}

/// What the harness itself recorded: one recovery phase, `settle` invoked then `ok`,
/// probes invoked then completed, and every charge made in a client's call attributed
/// to a client operation on the charged account.
fn harness_operations_are_recorded(path: &std::path::Path) {
    let reader = checkers::format::HistoryReader::new(BufReader::new(File::open(path).unwrap()));
    let ops: Vec<Op> = reader.unwrap().map(Result::unwrap).collect();
    let of = |f: F| -> Vec<&Op> { ops.iter().filter(|op| op.f == f).collect() };
    let phases = of(F::Phase);
    assert_eq!(phases.len(), 1);
    assert_eq!(phases[0].value, Value::Phase(Phase { phase: PhaseName::Recovery }));
    let settle: Vec<_> = of(F::Settle).iter().map(|op| (op.process, op.kind)).collect();
    assert_eq!(settle, [(Process::Harness, OpType::Invoke), (Process::Harness, OpType::Ok)]);
    let probes = of(F::Probe);
    assert!(probes.len() >= 20 && probes.len().is_multiple_of(2), "{} probe events", probes.len());
    for pair in probes.chunks(2) {
        assert_eq!((pair[0].kind, &pair[0].value), (OpType::Invoke, &Value::Nil));
        assert!(matches!((pair[1].kind, &pair[1].value), (OpType::Ok, Value::Probe(_))));
    }
    let mut attributed = 0;
    for op in of(F::Charge) {
        let Value::Charge(charge) = &op.value else { panic!("{op:?}") };
        let Some(by) = charge.op else { continue };
        let invocation = &ops[by as usize];
        assert_eq!(invocation.kind, OpType::Invoke, "{op:?} names {invocation:?}");
        assert!(
            matches!(&invocation.value, Value::Account(a) if a.account == charge.account),
            "{op:?} names {invocation:?}"
        );
        attributed += 1;
    }
    assert!(attributed >= 50, "{attributed} charges attributed to client operations");
}
