//! `faultline explore` on the real cluster: a failing schedule found against `naive`
//! from a pinned seed, shrunk, replayed, recorded and replayed again by `faultline run`;
//! `failsafe` passing a budget of cases. Seeds are pinned, as everywhere in CI; fresh
//! seeds are what `faultline explore` itself is for.
//!
//! A found schedule fails by timing (a recharge has to land inside the fault), so a
//! replay reproduces it often, not always: explore replays the minimal case five times
//! and reports how many failed, and `faultline run` on the written file gets three
//! tries here, of which one must be invalid and none a harness error.

use faultline::explore::{ExploreOptions, Explored, Found, explore};
use faultline::store::Store;
use std::process::Command;

fn options(sut: &str, seed: u64, store: &Store) -> ExploreOptions {
    ExploreOptions {
        cases: 8,
        shrink_candidates: 8,
        runs_per_candidate: 3,
        store: store.clone(),
        ..ExploreOptions::new(sut, seed)
    }
}

fn explore_with(options: &ExploreOptions) -> Explored {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let log = |line: &str| println!("{line}");
    match explore(options, runtime.handle().clone(), &log) {
        Ok(explored) => explored,
        Err(e) => {
            panic!("exploration stopped (this test needs Docker and faultline's images): {e}")
        }
    }
}

#[test]
fn naive_fails_a_schedule_that_shrinks_to_three_faults_at_most_and_replays() {
    let seed: u64 = 1_347_530_804_109_172_777;
    let store =
        Store::new(std::env::temp_dir().join(format!("faultline-explore-{}", std::process::id())));
    let Explored::Failed(found) = explore_with(&options("naive", seed, &store)) else {
        panic!("no failing schedule found against naive with seed {seed}")
    };
    let Found { minimal, replays_failed, scenario_file, .. } = *found;
    assert!(minimal.faults.len() <= 3, "seed {seed}: shrunk only to {minimal}");
    assert!(replays_failed.0 >= 4, "seed {seed}: {minimal} failed {replays_failed:?} replays");

    let mut outputs = Vec::new();
    let mut invalid = false;
    while !invalid && outputs.len() < 3 {
        let replay = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["run", "--sut", "naive", "--store"])
            .arg(store.root())
            .arg("--scenario")
            .arg(&scenario_file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&replay.stdout).into_owned();
        let code = replay.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "faultline run on {} ended {code:?}, not with a verdict:\n{stdout}\n{}",
            scenario_file.display(),
            String::from_utf8_lossy(&replay.stderr)
        );
        outputs.push(stdout);
        invalid = code == Some(1);
    }
    assert!(
        invalid,
        "faultline run never replayed {} as invalid in 3 tries:\n{}",
        scenario_file.display(),
        outputs.join("\n---\n")
    );

    let again = ExploreOptions { replays: 1, ..options("naive", seed.wrapping_add(1), &store) };
    let Explored::Failed(found) = explore_with(&again) else {
        panic!("the recorded regression was not replayed first")
    };
    assert!(found.from_regressions, "the next exploration did not start from the regression");
    std::fs::remove_dir_all(store.root()).unwrap();
}

#[test]
fn failsafe_passes_a_budget_of_cases() {
    let seed: u64 = 7_254_180_771_034_559_201;
    let store = Store::new(
        std::env::temp_dir().join(format!("faultline-explore-failsafe-{}", std::process::id())),
    );
    let budget = ExploreOptions { cases: 3, ..options("failsafe", seed, &store) };
    match explore_with(&budget) {
        Explored::Passed { cases, unknown, .. } => {
            println!("{unknown}");
            assert_eq!(cases, 3);
        }
        Explored::Failed(found) => {
            panic!("seed {seed}: failsafe failed {} (first: {})", found.minimal, found.first)
        }
    }
    std::fs::remove_dir_all(store.root()).unwrap();
}
