//! Billing systems written for the tests, from `workloads`' public API only, as a user
//! of faultline would write theirs: each is registered next to faultline's own designs
//! (`designs::builtin()`), never built in. `ledger-first` is correct; `replica-reads`
//! (failsafe reading balances from a replica) is wrong on purpose.

pub mod ledger_first;
pub mod replica_reads;

use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario};
use faultline::store::Store;
use faultline::workloads::sut::{Registry, Sut};

/// faultline's own designs and the designs written here.
pub fn registry() -> Registry {
    faultline::designs::builtin()
        .register("ledger-first", ledger_first::ABOUT, |cx| {
            Sut::new(ledger_first::LedgerFirst::new(cx))
        })
        .register("replica-reads", replica_reads::ABOUT, |cx| {
            Sut::new(replica_reads::ReplicaReads::new(cx))
        })
}

/// Runs the bundled `scenario` at `seed` against `sut` of [`registry`], in a store of
/// its own, to a verdict.
pub async fn run(scenario: &str, sut: &str, seed: u64) -> RunOutcome {
    let scenario = Scenario::load(scenario)
        .expect("a bundled scenario")
        .resolve(&Overrides { seed: Some(seed), ..Overrides::default() })
        .expect("the bundled scenario fits its own time limit");
    let root = std::env::temp_dir().join(format!(
        "faultline-test-{}-{sut}-{seed}-{}",
        scenario.name,
        std::process::id()
    ));
    let options = RunOptions {
        store: Store::new(root.clone()),
        registry: registry(),
        ..RunOptions::default()
    };
    crate::common::verdict_of(Run::new(scenario, sut, options), &root).await
}
