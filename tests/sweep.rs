//! The acceptance sweep: every bundled billing scenario over five seeds, against `failsafe` and
//! against the second correct design (`ledger-first`), recovery phase on. Each run must
//! be valid: the checkers flag no correct system, whatever the faults and the seed.
//!
//! About an hour per design on a 2-core machine, so it is not part of `cargo test`; run
//! it with `cargo test --test tests sweep -- --ignored --nocapture`. It prints one line
//! per run and fails at the end, naming every run that was not valid.

use crate::designs;
use checkers::Validity;
use faultline::runner::{Run, RunOptions};
use faultline::scenario::{self, Overrides, WorkloadKind};
use faultline::store::Store;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=5;

async fn sweep(sut: &str) {
    let root = std::env::temp_dir().join(format!("faultline-sweep-{sut}-{}", std::process::id()));
    let mut not_valid = Vec::new();
    for (name, scenario) in scenario::bundled() {
        let scenario = scenario.unwrap_or_else(|e| panic!("bundled scenario {name}: {e}"));
        if scenario.workload != WorkloadKind::Billing {
            continue;
        }
        if scenario.needs_service() {
            println!("sweep {sut} {name}: skipped, it faults a service and {sut} runs in process");
            continue;
        }
        for seed in SEEDS {
            let overrides = Overrides { seed: Some(seed), ..Overrides::default() };
            let resolved = scenario.clone().resolve(&overrides).expect("a bundled scenario fits");
            let options = RunOptions {
                store: Store::new(root.clone()),
                registry: designs::registry(),
                ..RunOptions::default()
            };
            let outcome = Run::new(resolved, sut, options).execute().await;
            let line = match &outcome {
                Ok(o) => format!("{:?} ({})", o.report.validity(), o.dir.path().display()),
                Err(e) => format!("no verdict: {e}"),
            };
            println!("sweep {sut} {name} seed {seed}: {line}");
            match outcome {
                Ok(o) if o.report.validity() == Validity::Valid => {}
                Ok(o) => not_valid.push(format!("{name} seed {seed}: {}", o.report)),
                Err(e) => not_valid.push(format!("{name} seed {seed}: no verdict: {e}")),
            }
        }
    }
    assert!(not_valid.is_empty(), "{sut}: runs not valid:\n{}", not_valid.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "the acceptance sweep, about an hour: run with --ignored"]
async fn sweep_failsafe_is_valid_on_every_bundled_scenario_over_five_seeds() {
    sweep("failsafe").await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "the acceptance sweep, about an hour: run with --ignored"]
async fn sweep_ledger_first_is_valid_on_every_bundled_scenario_over_five_seeds() {
    sweep("ledger-first").await;
}
