//! The simulation's own promises: deterministic, well formed, valid, bugs injected.

use super::*;
use crate::history::{F, OpType, StoreStatus, Value};
use crate::suite::{Suite, Workload};

fn small(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        accounts: 4,
        processes: 5,
        ops: 400,
        info_rate: 0.05,
        probe_every: 8,
        probe_delay: 8,
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
    assert!(count(&|op| op.f == F::Start) >= 2, "faults");
    assert!(
        count(&|op| op.kind == OpType::Info && op.process != crate::history::Process::Nemesis) > 0
    );
    assert!(count(&|op| op.f == F::Charge) > 0, "recharges");
    assert_eq!(count(&|op| op.f == F::Final), 4);
}

/// What each charge attempt was made inside: the `f` of its client operation, or
/// `settle`.
fn charges_inside(history: &History) -> Vec<F> {
    let mut invoked = std::collections::HashMap::new();
    let mut settling = false;
    let mut inside = Vec::new();
    for op in history {
        match (&op.f, op.kind, &op.value) {
            (F::Settle, kind, _) => settling = kind == OpType::Invoke,
            (F::Charge, _, Value::Charge(c)) => match c.op {
                Some(i) => inside.push(invoked.get(&i).cloned().expect("an invoked operation")),
                None if settling => inside.push(F::Settle),
                None => {}
            },
            (f, OpType::Invoke, _) => {
                invoked.insert(op.index, f.clone());
            }
            _ => {}
        }
    }
    inside
}

/// Whether a probe invoked before a heal completed after it, having seen the fault.
fn a_probe_straddles_a_heal(history: &History) -> bool {
    let mut invoked_before_heal = false;
    for op in history {
        match (&op.f, op.kind, &op.value) {
            (F::Probe, OpType::Invoke, _) => invoked_before_heal = false,
            (F::Heal, OpType::Invoke, _) => invoked_before_heal = true,
            (F::Probe, OpType::Ok, Value::Probe(p))
                if invoked_before_heal && p.store != StoreStatus::Healthy =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

#[test]
fn a_simulation_has_slow_probes_deferred_recharges_settle_and_ledger_entries() {
    let cfg = SimConfig {
        seed: 26,
        accounts: 2,
        processes: 6,
        ops: 6000,
        defer_rate: 0.6,
        fault_rate: 0.1,
        ..small(26)
    };
    let (history, _) = Sim::history(cfg);
    let inside = charges_inside(&history);
    for f in [F::Debit, F::Read, F::Payment, F::Settle] {
        assert!(inside.contains(&f), "no recharge inside a {f}");
    }
    assert!(a_probe_straddles_a_heal(&history), "no probe completed after the heal it straddled");
    let finals = history.iter().filter_map(|op| match &op.value {
        Value::Final(s) => Some(s),
        _ => None,
    });
    assert!(
        finals.clone().count() == 2
            && finals.into_iter().all(|s| s.entries == Some(s.ledger.clone()))
    );
    let report = Suite::new(Workload::Billing).check(&history);
    assert!(report.verdict().is_valid(), "{report}");
}
