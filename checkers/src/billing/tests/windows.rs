//! W over any operation in flight (reads, payments, settle, `info` for ever), and
//! fail-safe with probes as intervals.

use super::*;
use crate::billing::{FailSafe, OverCharge, WrongfulSuspension};
use crate::history::StoreStatus::Unreachable;
use crate::history::{F, History, Op, OpType};

#[test]
fn a_recharge_completed_inside_a_read_is_no_over_charge() {
    let h = history(vec![
        open(7, 150, 100, 1000),
        invoke(1, debit(7, 100)),
        ok(1, debit(7, 100)),
        invoke(2, read(7)),
        invoke(3, payment(7, 200)),
        ok(3, payment(7, 200)),
        captured(55, 7, 1000),
        ok(2, read(7)),
    ]);
    assert_eq!(verdict(OverCharge::default(), &h), Verdict::Valid);
}

#[test]
fn a_recharge_completed_inside_a_payment_is_no_over_charge() {
    let h = history(vec![
        open(7, 150, 100, 1000),
        invoke(1, debit(7, 100)),
        ok(1, debit(7, 100)),
        invoke(2, payment(7, 10)),
        invoke(3, payment(7, 200)),
        ok(3, payment(7, 200)),
        captured(55, 7, 1000),
        ok(2, payment(7, 10)),
    ]);
    assert_eq!(verdict(OverCharge::default(), &h), Verdict::Valid);
}

#[test]
fn a_recharge_completed_inside_settle_is_no_over_charge() {
    let h = history(vec![
        open(7, 150, 100, 1000),
        invoke(1, debit(7, 100)),
        ok(1, debit(7, 100)),
        settle_invoked(),
        invoke(3, payment(7, 200)),
        ok(3, payment(7, 200)),
        captured(55, 7, 1000),
        settle_ok(),
    ]);
    assert_eq!(verdict(OverCharge::default(), &h), Verdict::Valid);
}

#[test]
fn a_payment_racing_a_debit_is_no_over_charge() {
    let h = history(vec![
        open(7, 150, 100, 1000),
        invoke(2, payment(7, 10)),
        invoke(1, debit(7, 100)),
        ok(1, debit(7, 100)),
        invoke(3, payment(7, 300)),
        ok(3, payment(7, 300)),
        captured(55, 7, 1000),
        ok(2, payment(7, 10)),
    ]);
    assert_eq!(verdict(OverCharge::default(), &h), Verdict::Valid);
}

#[test]
fn a_background_recharge_is_judged_over_the_window_since_the_last_capture() {
    let h = history(vec![
        open(7, 150, 100, 1000),
        invoke(1, debit(7, 100)),
        ok(1, debit(7, 100)),
        invoke(3, payment(7, 200)),
        ok(3, payment(7, 200)),
        captured(55, 7, 1000),
        captured(56, 7, 1000),
    ]);
    let explanation = "op 6: the gateway captured 1000 cents from account 7's card (charge 56) although \
                       its balance was at least 1250 cents since op 5, never below the 100-cent \
                       recharge threshold; the capture before it was op 5";
    assert_eq!(
        verdict(OverCharge::default(), &h),
        invalid(vec![about(K::OverCharge, 7, explanation, &[6, 5], 1150)])
    );
}

#[test]
fn the_2013_repeated_recharges_are_still_found_with_reads_and_timeouts_in_flight() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(3, read(7)),
        info(3, read(7)),
        invoke(1, debit(7, 450)),
        captured(55, 7, 1000),
        ok(1, debit(7, 450)),
        invoke(2, debit(7, 10)),
        captured(56, 7, 1000),
        ok(2, debit(7, 10)),
    ]);
    let explanation = "op 7: the gateway captured 1000 cents from account 7's card (charge 56) although \
                       its balance was at least 1040 cents since op 4, never below the 100-cent \
                       recharge threshold; the capture before it was op 4";
    assert_eq!(
        verdict(OverCharge::default(), &h),
        invalid(vec![about(K::OverCharge, 7, explanation, &[7, 4], 940)])
    );
}

#[test]
fn a_decline_inside_a_read_justifies_a_suspension() {
    let h = history(vec![
        open(7, 150, 100, 1000),
        invoke(1, debit(7, 100)),
        ok(1, debit(7, 100)),
        invoke(2, read(7)),
        invoke(3, payment(7, 200)),
        ok(3, payment(7, 200)),
        declined(55, 7, 1000),
        ok(2, read(7)),
        fin(7, Balance(250), Balance(250), Some(true), &[]),
    ]);
    assert_eq!(verdict(WrongfulSuspension::default(), &h), Verdict::Valid);
}

#[test]
fn a_probe_in_flight_across_a_heal_cannot_make_a_capture_unsafe() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        probe_invoked(),
        probe(Unreachable, &[], &[]),
        probe_invoked(),
        nemesis(OpType::Invoke, F::Heal, 1),
        nemesis(OpType::Info, F::Heal, 1),
        invoke(1, debit(7, 450)),
        captured(55, 7, 1000),
        ok(1, debit(7, 450)),
        probe(Unreachable, &[], &[]),
        probe_invoked(),
        probe(Healthy, &[], &[]),
    ]);
    assert_eq!(verdict(FailSafe::default(), &h), Verdict::Valid);
}

#[test]
fn a_capture_between_two_completed_unsafe_probes_is_still_found() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        probe_invoked(),
        probe(ReadOnly, &[], &[]),
        invoke(1, debit(7, 450)),
        serving(captured(55, 7, 1000), 3),
        probe_invoked(),
        probe(ReadOnly, &[], &[]),
    ]);
    let explanation = "op 4: the gateway captured 1000 cents from account 7's card (charge 55) while \
                       the balance store was read-only (probes at ops 2 and 6; unsafe since op 2), for \
                       a request made after that: auto-recharge is not fail-safe";
    assert_eq!(
        verdict(FailSafe::default(), &h),
        invalid(vec![about(K::UnsafeCharge, 7, explanation, &[4, 2, 6], 1000)])
    );
}

#[test]
fn an_indeterminate_operation_invoked_before_the_window_may_still_be_deciding() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        probe(Healthy, &[], &[]),
        invoke(1, read(7)),
        info(1, read(7)),
        probe(ReadOnly, &[], &[]),
        invoke(2, debit(7, 450)),
        captured(55, 7, 1000),
        probe(ReadOnly, &[], &[]),
    ]);
    assert_eq!(verdict(FailSafe::default(), &h), Verdict::Valid);
}

#[test]
fn a_capture_by_settle_or_in_the_background_may_have_been_decided_before_the_window() {
    let settle = history(vec![
        open(7, 500, 100, 1000),
        settle_invoked(),
        probe(ReadOnly, &[], &[]),
        captured(55, 7, 1000),
        probe(ReadOnly, &[], &[]),
        settle_ok(),
    ]);
    assert_eq!(verdict(FailSafe::default(), &settle), Verdict::Valid);
    let background = history(vec![
        open(7, 500, 100, 1000),
        probe(ReadOnly, &[], &[]),
        captured(55, 7, 1000),
        probe(ReadOnly, &[], &[]),
    ]);
    assert_eq!(verdict(FailSafe::default(), &background), Verdict::Valid);
}

#[test]
fn a_capture_after_a_heal_between_two_unsafe_probes_is_not_judged() {
    let h = history(vec![
        open(1, 900, 1000, 3000),
        probe_invoked(),
        probe(Healthy, &[], &[]),
        nemesis(OpType::Invoke, F::Start, 1),
        nemesis(OpType::Info, F::Start, 1),
        probe_invoked(),
        probe(Unreachable, &[], &[]),
        nemesis(OpType::Invoke, F::Heal, 1),
        nemesis(OpType::Info, F::Heal, 1),
        invoke(1, debit(1, 100)),
        serving(captured(1, 1, 3000), 9),
        ok(1, reporting(debit(1, 100), 3800)),
        nemesis(OpType::Invoke, F::Start, 2),
        nemesis(OpType::Info, F::Start, 2),
        probe_invoked(),
        probe(Unreachable, &[], &[]),
    ]);
    assert_eq!(verdict(FailSafe::default(), &h), Verdict::Valid);
}

#[test]
fn probes_further_apart_than_the_monitor_timing_allows_do_not_judge_a_capture() {
    // The probe before completes at 2 µs, the probe after is invoked at 5 µs.
    let h = history(vec![
        open(7, 500, 100, 1000),
        probe_invoked(),
        probe(ReadOnly, &[], &[]),
        invoke(1, debit(7, 450)),
        serving(captured(55, 7, 1000), 3),
        probe_invoked(),
        probe(ReadOnly, &[], &[]),
    ]);
    let tight = crate::billing::MonitorTiming { interval: 500, timeout: 500 };
    assert_eq!(verdict(FailSafe::new(Some(tight)), &h), Verdict::Valid);
    let loose = crate::billing::MonitorTiming { interval: 1000, timeout: 1000 };
    let explanation = "op 4: the gateway captured 1000 cents from account 7's card (charge 55) while \
                       the balance store was read-only (probes at ops 2 and 6; unsafe since op 2), for \
                       a request made after that: auto-recharge is not fail-safe";
    assert_eq!(
        verdict(FailSafe::new(Some(loose)), &h),
        invalid(vec![about(K::UnsafeCharge, 7, explanation, &[4, 2, 6], 1000)])
    );
}

/// Two `read-only` probes around a capture, for a request made between them, with
/// `between` after the capture: the probe after it, when there is one, is the next.
fn read_only_around_a_capture(between: Vec<Op>) -> History {
    let mut ops = vec![
        open(7, 500, 100, 1000),
        probe_invoked(),
        probe(ReadOnly, &[], &[]),
        invoke(1, debit(7, 450)),
        serving(captured(55, 7, 1000), 3),
    ];
    ops.extend(between);
    ops.extend([probe_invoked(), probe(ReadOnly, &[], &[])]);
    history(ops)
}

#[test]
fn a_probe_that_could_not_tell_between_two_unsafe_probes_keeps_a_capture_unjudged() {
    let failed = Op { kind: OpType::Fail, ..probe_info() };
    for unknown in [probe_info(), failed] {
        let h = read_only_around_a_capture(vec![probe_invoked(), unknown]);
        assert_eq!(verdict(FailSafe::default(), &h), Verdict::Valid);
    }
    let h = read_only_around_a_capture(vec![]);
    let explanation = "op 4: the gateway captured 1000 cents from account 7's card (charge 55) while \
                       the balance store was read-only (probes at ops 2 and 6; unsafe since op 2), for \
                       a request made after that: auto-recharge is not fail-safe";
    assert_eq!(
        verdict(FailSafe::default(), &h),
        invalid(vec![about(K::UnsafeCharge, 7, explanation, &[4, 2, 6], 1000)])
    );
}

#[test]
fn a_probe_that_could_not_tell_before_a_capture_ends_the_window_it_was_in() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        probe(ReadOnly, &[], &[]),
        invoke(1, debit(7, 450)),
        probe_invoked(),
        probe_info(),
        serving(captured(55, 7, 1000), 2),
        probe(ReadOnly, &[], &[]),
    ]);
    assert_eq!(verdict(FailSafe::default(), &h), Verdict::Valid);
}

#[test]
fn a_window_seen_again_after_a_probe_that_could_not_tell_begins_after_it() {
    // The request is made while the monitor could not tell: the store may have been
    // safe when the system decided.
    let h = |gap: Op| {
        history(vec![
            open(7, 500, 100, 1000),
            probe(ReadOnly, &[], &[]),
            probe_invoked(),
            gap,
            invoke(1, debit(7, 450)),
            probe(ReadOnly, &[], &[]),
            serving(captured(55, 7, 1000), 4),
            probe(ReadOnly, &[], &[]),
        ])
    };
    assert_eq!(verdict(FailSafe::default(), &h(probe_info())), Verdict::Valid);
    let explanation = "op 6: the gateway captured 1000 cents from account 7's card (charge 55) while \
                       the balance store was read-only (probes at ops 5 and 7; unsafe since op 1), for \
                       a request made after that: auto-recharge is not fail-safe";
    assert_eq!(
        verdict(FailSafe::default(), &h(probe(ReadOnly, &[], &[]))),
        invalid(vec![about(K::UnsafeCharge, 7, explanation, &[6, 5, 7], 1000)])
    );
}

#[test]
fn a_balance_still_missing_after_a_probe_that_could_not_tell_is_missing_from_the_next_probe() {
    let across = history(vec![
        open(7, 500, 100, 1000),
        probe(Healthy, &[7], &[]),
        invoke(1, debit(7, 1)),
        serving(captured(55, 7, 1000), 2),
        probe_invoked(),
        probe_info(),
        probe(Healthy, &[], &[]),
    ]);
    assert_eq!(verdict(FailSafe::default(), &across), Verdict::Valid);
    let after = history(vec![
        open(7, 500, 100, 1000),
        probe(Healthy, &[7], &[]),
        probe_invoked(),
        probe_info(),
        probe(Healthy, &[], &[]),
        invoke(1, debit(7, 1)),
        serving(captured(55, 7, 1000), 5),
        probe(Healthy, &[], &[]),
    ]);
    let explanation = "op 6: the gateway captured 1000 cents from account 7's card (charge 55) while \
                       the balance store had lost its balance (probes at ops 4 and 7; unsafe since op \
                       4), for a request made after that: auto-recharge is not fail-safe";
    assert_eq!(
        verdict(FailSafe::default(), &after),
        invalid(vec![about(K::UnsafeCharge, 7, explanation, &[6, 4, 7], 1000)])
    );
}
