//! The register workload end to end: linearizable on the master alone with no fault,
//! not linearizable once a failover or a split brain loses acknowledged writes, and
//! not linearizable when reads go to replicas cut from the master. Each run is a bundled
//! scenario at its pinned seed.

use crate::common::{assert_valid, remove_store};
use checkers::verdict::AnomalyKind;
use checkers::{AnomalyGroup, Report, Validity};
use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario};
use faultline::store::Store;

async fn run(scenario: &str) -> RunOutcome {
    let scenario = Scenario::load(scenario)
        .expect("a bundled scenario")
        .resolve(&Overrides::default())
        .expect("the bundled scenario fits its own time limit");
    let root = std::env::temp_dir().join(format!(
        "faultline-test-{}-{}",
        scenario.name,
        std::process::id()
    ));
    let options = RunOptions { store: Store::new(root.clone()), ..RunOptions::default() };
    crate::common::verdict_of(Run::new(scenario, "redis", options), &root).await
}

fn figure(report: &Report, name: &str) -> f64 {
    let result = report.result("linearizable").expect("a linearizable row");
    let found = result.figures.iter().find(|f| f.name == name);
    found.unwrap_or_else(|| panic!("no figure {name:?}:\n{report}")).value
}

/// The `not-linearizable` group of an invalid run, its keys counted and printed.
fn not_linearizable(outcome: &RunOutcome) -> &AnomalyGroup {
    let report = &outcome.report;
    assert_eq!(report.validity(), Validity::Invalid, "{report}");
    let result = report.result("linearizable").expect("a linearizable row");
    let group = result.verdict.anomalies().iter().find(|g| g.kind == AnomalyKind::NotLinearizable);
    let group = group.unwrap_or_else(|| panic!("no not-linearizable anomaly:\n{report}"));
    println!(
        "{}: {} of {} keys not linearizable (longest sub-history {}); first: {}",
        report.meta["scenario"],
        group.count,
        figure(report, "keys checked"),
        figure(report, "longest sub-history"),
        group.first.explanation
    );
    group
}

/// The anomaly names what the stuck operation saw and what the orderable prefix left,
/// with witnesses, and the report's timeline draws that key.
fn assert_explained(outcome: &RunOutcome, group: &AnomalyGroup) {
    let first = &group.first;
    assert!(
        first.explanation.contains("operations before it that can be ordered")
            && first.explanation.contains(&format!("{} holds", first.subject)),
        "{}",
        first.explanation
    );
    assert!(first.ops.len() >= 2, "witnesses: {:?}", first.ops);
    let html = std::fs::read_to_string(outcome.dir.file("report.html")).expect("report.html");
    assert!(html.contains("not-linearizable"), "the report names the anomaly");
    assert!(html.contains(&format!("timeline of {}", first.subject)), "the report draws the key");
}

#[tokio::test(flavor = "multi_thread")]
async fn registers_on_the_master_alone_without_faults_are_linearizable() {
    let outcome = run("register").await;
    assert_valid(&outcome);
    let report = &outcome.report;
    assert_eq!(figure(report, "keys checked"), 20.0, "{report}");
    assert!(figure(report, "operations checked") > 1000.0, "{report}");
    remove_store(&outcome);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_loses_acknowledged_writes_so_registers_are_not_linearizable() {
    let outcome = run("register-failover").await;
    let group = not_linearizable(&outcome);
    assert_explained(&outcome, group);
    remove_store(&outcome);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_brain_discards_acknowledged_writes_so_registers_are_not_linearizable() {
    let outcome = run("register-split-brain").await;
    let group = not_linearizable(&outcome);
    assert_explained(&outcome, group);
    remove_store(&outcome);
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_from_replicas_cut_from_the_master_are_not_linearizable() {
    let outcome = run("register-replica-reads").await;
    let group = not_linearizable(&outcome);
    assert_explained(&outcome, group);
    remove_store(&outcome);
}
