//! The `wallet` design under faultline, as a team's own tests would run it: two
//! scenarios set from code, each judged from the results the run returns as data.
//! They need Docker and faultline's images (`cargo run -q -- images build` in the
//! faultline checkout).

use billing_design::{ABOUT, Wallet};
use faultline::checkers::Validity;
use faultline::checkers::history::{F, LayoutShape, Op, OpType, Process, StoreStatus, Value};
use faultline::nemesis::{Fault, ScheduledFault, Target};
use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Scenario, WorkloadKind};
use faultline::store::{HISTORY, Store};
use faultline::workloads::gateway::GatewayConfig;
use faultline::workloads::sut::{Registry, Sut};
use std::fs::File;
use std::io::BufReader;
use std::time::Duration;

/// Runs `scenario` against `wallet` in a store of its own, to a verdict.
async fn run(scenario: Scenario) -> RunOutcome {
    let root = std::env::temp_dir().join(format!(
        "billing-design-{}-{}",
        scenario.name,
        std::process::id()
    ));
    let registry = Registry::new().register("wallet", ABOUT, |cx| Sut::new(Wallet::new(cx)));
    let options = RunOptions { store: Store::new(root), registry, ..RunOptions::default() };
    match Run::new(scenario, "wallet", options).execute().await {
        Ok(outcome) => outcome,
        Err(e) => panic!("no verdict (this test needs Docker and faultline's images): {e}"),
    }
}

/// Asserts every invariant held, showing the first anomaly and the run's directory if
/// not; then removes the run's store.
fn assert_valid(outcome: &RunOutcome) {
    let results = &outcome.results;
    assert_eq!(
        results.verdict,
        Validity::Valid,
        "first anomaly: {:?}\n{}\nrun directory: {}",
        results.first_anomaly(),
        outcome.report,
        outcome.dir.path().display()
    );
}

fn remove_store(outcome: &RunOutcome) {
    let store = outcome.dir.path().parent().and_then(|scenario| scenario.parent());
    std::fs::remove_dir_all(store.expect("a run directory lies two levels under its store"))
        .unwrap();
}

/// Postgres killed for four seconds, then switched to asynchronous commit and killed
/// again (acknowledged commits are lost unless the design makes its own durable), under
/// debits that recharge every few operations. The one Redis node is never touched: the
/// design does not use Redis, and the harness watches the store it does use.
#[tokio::test(flavor = "multi_thread")]
async fn wallet_keeps_money_right_through_postgres_outages_watched_on_postgres() {
    let secs = Duration::from_secs;
    let scenario = Scenario::builder("postgres-outages")
        .description(
            "The ledger's Postgres is killed, then killed again under asynchronous commit.",
        )
        .workload(WorkloadKind::Billing)
        .seed(14)
        .quiet(secs(2))
        .recovery(secs(2))
        .redis_replicas(0)
        .accounts(12)
        .recharge(1000)
        .opening(1000..=1200)
        .debits(20..=80)
        .workers(6)
        .time_limit(secs(14))
        .op_timeout(secs(3))
        .fault(
            ScheduledFault::at(secs(2), Fault::Kill { target: Target::nodes(["postgres"]) })
                .lasting(secs(4)),
        )
        .fault(ScheduledFault::at(secs(10), Fault::PostgresAsyncCommit).lasting(secs(2)))
        .build()
        .expect("a valid scenario");
    let outcome = run(scenario).await;
    assert_valid(&outcome);
    assert!(
        outcome.results.charges.captured >= 10,
        "the mix did not recharge: {:?}",
        outcome.results.charges
    );
    let ops = history(&outcome);
    the_layout_says_the_ledger_holds_the_only_balance(&ops, 12);
    the_monitor_saw_the_outage_on_postgres(&ops);
    remove_store(&outcome);
}

/// The bundled scenario in which the gateway captures and loses the answer, then
/// captures and answers an error: its accounts and gateway rules changed from code
/// (eight accounts, a quarter of the cards declining every charge), and charging again under
/// the intent's key never charges twice.
#[tokio::test(flavor = "multi_thread")]
async fn wallet_never_charges_twice_when_the_gateway_loses_answers() {
    let scenario = Scenario::load("gateway-lost-response")
        .expect("a bundled scenario")
        .into_builder()
        .accounts(8)
        .gateway(GatewayConfig {
            declining_cards: 0.25,
            // No card is deactivated for how often it is charged: a recharge every few
            // operations is what this scenario asks of the design.
            deactivate_after: 1000,
            window: Duration::from_secs(60),
        })
        .build()
        .expect("a valid scenario");
    let outcome = run(scenario).await;
    assert_valid(&outcome);
    let ops = history(&outcome);
    let opened = ops.iter().filter(|op| op.f == F::Open).count();
    assert_eq!(opened, 8, "the scenario's accounts, as set from code");
    assert!(
        outcome.results.charges.declined > 0,
        "no card declined: the gateway rules set from code did not apply ({:?})",
        outcome.results.charges
    );
    let faults = &outcome.results.faults;
    assert!(faults.iter().any(|f| f.fault == "gateway-lost-response"), "{faults:?}");
    remove_store(&outcome);
}

fn history(outcome: &RunOutcome) -> Vec<Op> {
    let file = File::open(outcome.dir.file(HISTORY)).expect("the run's history");
    faultline::checkers::format::HistoryReader::new(BufReader::new(file))
        .expect("a history header")
        .map(|op| op.expect("a well-formed operation"))
        .collect()
}

/// The harness recorded the layout before opening any account, and its final reads
/// never asked Redis: no final state carries an in-flight balance.
fn the_layout_says_the_ledger_holds_the_only_balance(ops: &[Op], accounts: usize) {
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
    assert_eq!(finals.len(), accounts);
    for state in finals {
        assert_eq!(state.in_flight, None, "{state:?}");
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
    let (mut during, mut healthy_after) = (Vec::new(), 0);
    for op in ops.iter().filter(|op| op.process == Process::Monitor) {
        if op.kind == OpType::Invoke {
            invoked = Some(op.index);
        }
        // A probe that could not tell (`info`: Postgres refusing new sessions) saw
        // nothing either way.
        let Value::Probe(probe) = &op.value else { continue };
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
