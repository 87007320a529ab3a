//! The simulation's own promises: deterministic, well formed, valid, bugs injected.

use super::*;
use crate::suite::{Suite, Workload};

fn small(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        accounts: 4,
        processes: 5,
        ops: 400,
        info_rate: 0.05,
        probe_every: 8,
        ..SimConfig::default()
    }
}

#[test]
fn a_simulation_is_a_pure_function_of_its_configuration() {
    assert_eq!(Sim::history(small(3)).0, Sim::history(small(3)).0);
    assert_ne!(Sim::history(small(3)).0, Sim::history(small(4)).0);
}

#[test]
fn simulated_histories_are_valid() {
    for seed in 0..50 {
        let (history, injected) = Sim::history(small(seed));
        assert!(injected.is_empty());
        let report = Suite::new(Workload::Billing).check(&history);
        assert!(report.verdict().is_valid(), "seed {seed}:\n{report}");
    }
}

#[test]
fn a_simulation_has_faults_timeouts_recharges_and_final_states() {
    let (history, _) = Sim::history(SimConfig { seed: 1, ..small(1) });
    let count = |f: &dyn Fn(&Op) -> bool| history.iter().filter(|op| f(op)).count();
    assert!(count(&|op| op.f == crate::history::F::Start) >= 2, "faults");
    assert!(
        count(&|op| op.kind == crate::history::OpType::Info
            && op.process != crate::history::Process::Nemesis)
            > 0
    );
    assert!(count(&|op| op.f == crate::history::F::Charge) > 0, "recharges");
    assert_eq!(count(&|op| op.f == crate::history::F::Final), 4);
}
