//! Issue 14's replica-reading design, written as a test: `replica-reads` (in `designs`)
//! is `failsafe` answering balance reads from a Redis replica, and the per-read balance
//! check (`reconciliation`'s `lost-write` and `impossible-balance`) catches those reads,
//! and nothing else flags the run.
//!
//! The scenario is `partition-replicas` at its own seed, 11: every replica is cut from
//! the master for 10 s while clients keep reading. `failsafe` is valid on that scenario
//! and seed (`run::partition_replicas_reaches_a_verdict_against_both`), so what is
//! caught here is the one thing `replica-reads` does differently.

use crate::common::remove_store;
use crate::designs;
use checkers::history::{F, Op};
use checkers::{Anomaly, Validity, Verdict};
use faultline::runner::RunOutcome;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;

/// `partition-replicas`' own seed, the one `failsafe` is shown valid at.
const SEED: u64 = 11;

#[tokio::test(flavor = "multi_thread")]
async fn replica_reads_are_caught_by_the_per_read_check_alone_through_partition_replicas() {
    let outcome = designs::run("partition-replicas", "replica-reads", SEED).await;
    let report = &outcome.report;
    let shown = format!("{report}\nrun directory: {}", outcome.dir.path().display());
    println!("{shown}");
    assert_eq!(report.validity(), Validity::Invalid, "{shown}");
    let reconciliation = report.result("reconciliation").expect("a reconciliation result");
    let Verdict::Invalid(groups) = &reconciliation.verdict else { panic!("{shown}") };
    let kinds: BTreeSet<&str> = groups.iter().map(|g| g.kind.name()).collect();
    assert!(kinds.is_subset(&["impossible-balance", "lost-write"].into()), "{kinds:?}\n{shown}");
    for other in report.safety().filter(|r| r.checker != "reconciliation") {
        assert_eq!(other.verdict, Verdict::Valid, "{} flagged the run\n{shown}", other.checker);
    }
    let ops = history(&outcome);
    for anomaly in groups.iter().flat_map(|g| [&g.first, &g.worst, &g.last]) {
        assert_eq!(reported_by(&ops, anomaly).f, F::Read, "{}\n{shown}", anomaly.explanation);
    }
    remove_store(&outcome);
}

fn history(outcome: &RunOutcome) -> Vec<Op> {
    let file = BufReader::new(File::open(outcome.dir.file("history.jsonl")).unwrap());
    checkers::format::HistoryReader::new(file).unwrap().map(Result::unwrap).collect()
}

/// The completion that reported the balance `anomaly` is about: its second witness, after
/// the invocation.
fn reported_by<'a>(ops: &'a [Op], anomaly: &Anomaly) -> &'a Op {
    let index = anomaly.ops[1];
    ops.iter().find(|op| op.index == index).expect("the witness is in the history")
}
