//! Properties over simulated billing histories: valid histories are always `Valid`, and
//! every injected anomaly is always found, pointing at the right operation.

use checkers::sim::{Bug, Injected, Sim, SimConfig};
use checkers::verdict::AnomalyKind as K;
use checkers::{AnomalyGroup, Report, Suite, Workload};
use proptest::prelude::*;

fn config() -> impl Strategy<Value = SimConfig> {
    let shape = (any::<u64>(), 1u32..6, 1u32..8, 50u64..600);
    let odds = (0.0..0.1f64, 0.0..0.5f64, 3u32..16, 0u32..24, 0.0..1.0f64);
    (shape, odds).prop_map(
        |(
            (seed, accounts, processes, ops),
            (info_rate, fault_rate, probe_every, probe_delay, defer_rate),
        )| {
            SimConfig {
                seed,
                accounts,
                processes,
                ops,
                info_rate,
                fault_rate,
                probe_every,
                probe_delay,
                defer_rate,
                decline_rate: 0.02,
                unsure_rate: 0.02,
                bug: None,
            }
        },
    )
}

fn check(cfg: SimConfig) -> (Report, Vec<Injected>) {
    let (history, injected) = Sim::history(cfg);
    (Suite::new(Workload::Billing).check(&history), injected)
}

/// The anomalies an injected bug may cause besides its own: its consequences.
fn consequences(bug: Bug) -> &'static [K] {
    let money_missing = &[
        K::ChargeNotInFlight,
        K::BalanceOutOfBounds,
        K::OverCharge,
        K::WrongfulSuspension,
        K::ImpossibleBalance,
        K::LostWrite,
    ];
    // A lost write is a diagnosis the checkers make when acknowledged writes can account
    // for a balance outside R; they cannot tell those from other causes of the same size:
    // an uncredited capture confirmed before the latest payment (below L_r, no larger
    // than the payments), a credited decline (above U, no larger than the debits).
    match bug {
        Bug::UncreditedCharge => money_missing,
        Bug::DuplicateKey | Bug::ChargeWhileUnsafe => &[
            K::ChargeWithoutCredit,
            K::ChargeNotInFlight,
            K::BalanceOutOfBounds,
            K::OverCharge,
            K::WrongfulSuspension,
            K::ImpossibleBalance,
            K::LostWrite,
        ],
        Bug::PhantomCredit => &[K::BalanceOutOfBounds, K::ImpossibleBalance, K::LostWrite],
        Bug::StoresDisagree => &[K::BalanceOutOfBounds],
        Bug::VanishedPayment => &[K::BelowFloor],
        Bug::DuplicateOp => &[K::OverCharge],
        Bug::RepeatedRecharge
        | Bug::WrongfulSuspension
        | Bug::LostBalance
        | Bug::BelowFloor
        | Bug::StaleRead
        | Bug::DoubleCredit
        | Bug::UnbalancedLedger => &[],
    }
}

fn groups(report: &Report) -> impl Iterator<Item = &AnomalyGroup> {
    report.results.iter().flat_map(|r| r.verdict.anomalies())
}

fn cites(group: &AnomalyGroup, op: u64) -> bool {
    [&group.first, &group.worst, &group.last].iter().any(|a| a.ops.contains(&op))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn simulated_histories_are_valid(cfg in config()) {
        let (report, _) = check(cfg);
        prop_assert!(report.verdict().is_valid(), "{}", report);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4500))]

    #[test]
    fn every_injected_anomaly_is_found_at_its_witness(cfg in config(), bug in proptest::sample::select(&Bug::ALL[..])) {
        let fault_rate = if bug == Bug::ChargeWhileUnsafe { cfg.fault_rate.max(0.25) } else { cfg.fault_rate };
        let cfg = SimConfig { bug: Some(bug), fault_rate, ops: cfg.ops.max(300), ..cfg };
        let (report, injected) = check(cfg);
        match injected.as_slice() {
            [] => prop_assert!(report.verdict().is_valid(), "no opportunity to inject, yet:\n{}", report),
            [one] => {
                prop_assert!(
                    groups(&report).any(|g| g.kind == bug.kind() && cites(g, one.op)),
                    "{:?} at op {} not found:\n{}", bug, one.op, report
                );
                for g in groups(&report) {
                    prop_assert!(g.kind == bug.kind() || consequences(bug).contains(&g.kind), "{:?}: unexpected {}", bug, g);
                }
            }
            many => prop_assert!(false, "injected more than once: {:?}", many),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_history_read_back_from_json_lines_gets_the_same_report(cfg in config(), bug in proptest::option::of(proptest::sample::select(&Bug::ALL[..]))) {
        let sim = Sim::new(SimConfig { bug, ..cfg.clone() });
        let mut bytes = serde_json::to_vec(&sim.header()).expect("a header serialises");
        bytes.push(b'\n');
        let (history, _) = Sim::history(SimConfig { bug, ..cfg });
        history.iter().for_each(|op| checkers::format::write_op(op, &mut bytes));
        let from_file = checkers::check(&bytes[..]).expect("the history reads back");
        let in_memory = Suite::new(Workload::Billing).check(&history);
        prop_assert_eq!(from_file.results, in_memory.results);
        prop_assert_eq!(from_file.ops, in_memory.ops);
        prop_assert_eq!(from_file.meta, sim.header().meta);
    }
}
