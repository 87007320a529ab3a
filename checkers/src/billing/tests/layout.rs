//! The stores a history's final states must hold, from the harness's `layout` record: a
//! system whose only balance is the ledger's has no in-flight balance to lose; one that
//! keeps an in-flight balance, or a history that names no layout, owes one.

use super::*;
use crate::billing::{ChargeWithoutCredit, Reconciliation};
use crate::history::{History, Op, OpType};
use crate::report::Report;

/// Account 7 debited, recharged by charge 55 and credited; the final state as given.
fn recharged(layout: Option<bool>, last: Op) -> History {
    let mut ops: Vec<Op> = layout.into_iter().map(super::layout).collect();
    ops.extend([
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        captured(55, 7, 1000),
        ok(1, reporting(debit(7, 450), 1050)),
        last,
    ]);
    history(ops)
}

#[test]
fn a_ledger_only_system_is_judged_on_its_ledger_with_nothing_owed_in_flight() {
    let h = recharged(Some(false), without_in_flight(settled(7, 1050, &[55])));
    let report = checkers_over(&h);
    assert_eq!(report.exit_code(), 0, "{report}");
    assert_eq!(verdict(ChargeWithoutCredit::default(), &h), Verdict::Valid);
}

#[test]
fn a_ledger_only_systems_ledger_is_still_checked_for_loss_and_bounds() {
    let lost = recharged(Some(false), without_in_flight(fin(7, Missing, Missing, None, &[55])));
    let explanation = "account 7 has no ledger balance after the faults healed: it was lost \
                       (final state at op 5)";
    let expected = invalid(vec![about(K::LostBalance, 7, explanation, &[5], 1)]);
    assert_eq!(verdict(Reconciliation::default(), &lost), expected);
    let high = recharged(Some(false), without_in_flight(settled(7, 1060, &[55])));
    let explanation = "account 7's ledger balance ends at 1060 cents, outside the 1050 to 1050 \
                       cents its operations allow (final state at op 5)";
    let expected = invalid(vec![about(K::BalanceOutOfBounds, 7, explanation, &[5], 10)]);
    assert_eq!(verdict(Reconciliation::default(), &high), expected);
}

#[test]
fn a_missing_in_flight_balance_is_unknown_unless_the_layout_keeps_none() {
    let unread = || without_in_flight(settled(7, 1050, &[55]));
    let reason = "account 7's final state (op 4) has no in-flight balance, though the history \
                  records no layout (a harness `layout` operation), so one is expected: the \
                  harness did not read it, so the balance store cannot be judged";
    let h = recharged(None, unread());
    assert_eq!(verdict(Reconciliation::default(), &h), Verdict::Unknown(reason.into()));
    let reason = "account 7's final state (op 5) has no in-flight balance, though the layout \
                  recorded at op 0 keeps one: the harness did not read it, so the balance store \
                  cannot be judged";
    let h = recharged(Some(true), unread());
    assert_eq!(verdict(Reconciliation::default(), &h), Verdict::Unknown(reason.into()));
    assert_eq!(checkers_over(&h).exit_code(), 2, "never valid, never a loss");
}

#[test]
fn an_in_flight_balance_is_judged_whatever_the_layout_says() {
    let h = recharged(Some(false), fin(7, Balance(50), Balance(1050), Some(false), &[55]));
    let disagree = "account 7 ends with 50 cents in the balance store but 1050 cents in the \
                    ledger (final state at op 5)";
    let out = "account 7's in-flight (balance store) balance ends at 50 cents, outside the \
               1050 to 1050 cents its operations allow (final state at op 5)";
    let expected = invalid(vec![
        about(K::BalanceOutOfBounds, 7, out, &[5], 1000),
        about(K::StoresDisagree, 7, disagree, &[5], 1000),
    ]);
    assert_eq!(verdict(Reconciliation::default(), &h), expected);
    let missing = "account 7's in-flight balance ends at 50 cents, 1000 cents below the least it \
                   can hold (1050), though 1000 cents were captured from its card: captured \
                   charges are missing from the balance store (final state at op 5)";
    let expected = invalid(vec![about(K::ChargeNotInFlight, 7, missing, &[5, 3], 1000)]);
    assert_eq!(verdict(ChargeWithoutCredit::default(), &h), expected);
}

#[test]
fn two_layouts_that_disagree_leave_the_final_states_unknown() {
    let mut ops = recharged(Some(false), without_in_flight(settled(7, 1050, &[55]))).ops;
    ops.insert(1, layout(true));
    let h = history(ops);
    let reason = "ops 0 and 1 record different layouts (the ledger's balance only and an \
                  in-flight balance besides the ledger), so which stores the final states must \
                  hold cannot be told";
    assert_eq!(verdict(Reconciliation::default(), &h), Verdict::Unknown(reason.into()));
}

#[test]
fn faultline_check_reads_a_ledger_only_history_as_the_harness_writes_it() {
    let text = r#"{"schema":"faultline.history/1","workload":"billing"}
{"index":0,"time":0,"process":"harness","type":"ok","f":"layout","value":{"in_flight":false}}
{"index":1,"time":5,"process":"harness","type":"ok","f":"open","value":{"account":7,"balance":500,"threshold":100,"recharge":1000}}
{"index":2,"time":10,"process":3,"type":"invoke","f":"debit","value":{"account":7,"amount":5}}
{"index":3,"time":20,"process":3,"type":"ok","f":"debit","value":{"account":7,"amount":5,"balance":495}}
{"index":4,"time":40,"process":"harness","type":"ok","f":"final","value":{"account":7,"ledger":495,"suspended":false,"credited":[],"entries":495}}
"#;
    let report = crate::check(text.as_bytes()).expect("a readable history");
    assert_eq!(report.exit_code(), 0, "{report}");
    let owed = text.replace(r#""in_flight":false"#, r#""in_flight":true"#);
    let report = crate::check(owed.as_bytes()).expect("a readable history");
    assert_eq!(report.exit_code(), 2, "{report}");
}

fn checkers_over(h: &History) -> Report {
    let mut runner = crate::runner::Runner::new(crate::billing::checkers(None));
    h.iter().for_each(|op| runner.observe(op, None));
    runner.finish()
}

#[test]
fn a_layout_record_the_harness_did_not_complete_ok_declares_nothing() {
    for kind in [OpType::Fail, OpType::Info] {
        let mut declared = layout(false);
        declared.kind = kind;
        let mut ops = vec![declared];
        ops.extend(recharged(None, without_in_flight(settled(7, 1050, &[55]))).iter().cloned());
        let h = history(ops);
        let v = verdict(Reconciliation::default(), &h);
        assert!(matches!(v, Verdict::Unknown(_)), "{kind:?}: {v:?}");
    }
}
