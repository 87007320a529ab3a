//! A Postgres-only design (`ledger-only`, in `designs`), written from `workloads`'
//! public API and declaring no balance in Redis, judged valid through Postgres outages;
//! the harness probes and reads the store its layout names, the ledger.

use crate::designs;
use checkers::Validity;
use checkers::history::{F, LayoutShape, Op, OpType, Process, StoreStatus, Value};
use faultline::runner::{Run, RunOptions};
use faultline::scenario::{Overrides, Scenario};
use faultline::store::{HISTORY, Store};
use std::fs::File;
use std::io::BufReader;

/// Postgres killed for four seconds (so that whole probes fall inside), then switched to asynchronous commit and killed
/// again (acknowledged commits are lost unless the design makes its own durable), under
/// debits that recharge every few operations; the one Redis node is never touched.
const OUTAGES: &str = r#"
name = "postgres-outages"
description = "The ledger's Postgres is killed, then killed again under asynchronous commit."
seed = 14
quiet = "2s"
recovery = "2s"
workload = "billing"

[cluster]
redis_replicas = 0

[billing]
accounts = 12
recharge = 1000
opening = { min = 1000, max = 1200 }
debit = { min = 20, max = 80 }
clients = { workers = 6, time_limit = "14s", op_timeout = "3s" }

[[faults]]
at = "2s"
fault = "kill"
target = "postgres"
duration = "4s"

[[faults]]
at = "10s"
fault = "postgres-async-commit"
duration = "2s"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_only_design_is_valid_through_outages_its_monitor_saw_on_postgres() {
    let scenario = Scenario::parse("postgres-outages.toml", OUTAGES)
        .unwrap()
        .resolve(&Overrides::default())
        .unwrap();
    let root =
        std::env::temp_dir().join(format!("faultline-test-ledger-only-{}", std::process::id()));
    let options = RunOptions {
        store: Store::new(root.clone()),
        registry: designs::registry(),
        ..RunOptions::default()
    };
    let outcome = match Run::new(scenario, "ledger-only", options).execute().await {
        Ok(outcome) => outcome,
        Err(e) => {
            panic!("the run did not reach a verdict (it needs Docker and faultline's images): {e}")
        }
    };
    let dir = outcome.dir.path().display().to_string();
    assert_eq!(
        outcome.report.validity(),
        Validity::Valid,
        "{}\nrun directory: {dir}",
        outcome.report
    );
    let ops: Vec<Op> = checkers::format::HistoryReader::new(BufReader::new(
        File::open(outcome.dir.file(HISTORY)).unwrap(),
    ))
    .unwrap()
    .map(Result::unwrap)
    .collect();
    the_layout_says_the_ledger_holds_the_only_balance(&ops);
    the_monitor_saw_the_outage_on_postgres(&ops);
    let charges = ops.iter().filter(|op| op.f == F::Charge && op.kind == OpType::Ok).count();
    assert!(charges >= 10, "{charges} captures: the mix did not recharge ({dir})");
    std::fs::remove_dir_all(root).unwrap();
}

/// The harness recorded the layout before opening any account, and its final reads
/// never asked Redis: no final state carries an in-flight balance.
fn the_layout_says_the_ledger_holds_the_only_balance(ops: &[Op]) {
    let layout = ops.iter().position(|op| op.f == F::Layout).expect("a layout record");
    let first_open = ops.iter().position(|op| op.f == F::Open).expect("opened accounts");
    assert!(layout < first_open);
    assert_eq!(ops[layout].process, Process::Harness);
    assert_eq!(ops[layout].value, Value::Layout(LayoutShape { in_flight: false }));
    let finals: Vec<_> = ops
        .iter()
        .filter_map(|op| match &op.value {
            Value::Final(state) => Some(state),
            _ => None,
        })
        .collect();
    assert_eq!(finals.len(), 12);
    for state in finals {
        assert_eq!(state.in_flight, None, "{state:?}");
        assert!(matches!(state.ledger, checkers::history::Observed::Balance(_)), "{state:?}");
    }
}

/// Every probe made while Postgres was killed (invoked after the kill took effect,
/// completed before its heal began) found the store unreachable, which only Postgres
/// was: the lone Redis node stayed up. Probes after the heal found it healthy again.
fn the_monitor_saw_the_outage_on_postgres(ops: &[Op]) {
    let when = |f: F, kind: OpType| {
        ops.iter()
            .find(|op| {
                op.f == f
                    && op.kind == kind
                    && matches!(&op.value, Value::Fault(e) if e.fault == "kill")
            })
            .unwrap_or_else(|| panic!("no {f:?} {kind:?} of the kill"))
            .index
    };
    let (killed, healing) = (when(F::Start, OpType::Info), when(F::Heal, OpType::Invoke));
    let mut invoked = None;
    let mut during = Vec::new();
    let mut healthy_after = 0;
    for op in ops.iter().filter(|op| op.process == Process::Monitor) {
        let Value::Probe(probe) = &op.value else {
            invoked = Some(op.index);
            continue;
        };
        let started = invoked.take().expect("a probe is invoked before it completes");
        if started > killed && op.index < healing {
            during.push(probe.store);
        }
        healthy_after += usize::from(started > healing && probe.store == StoreStatus::Healthy);
    }
    assert!(!during.is_empty(), "no probe fell inside the kill");
    assert!(
        during.iter().all(|s| *s == StoreStatus::Unreachable),
        "probes during the kill: {during:?}"
    );
    assert!(healthy_after > 0, "the monitor never saw Postgres back");
}
