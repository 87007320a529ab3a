//! Ground truth the harness read: credits listed once, ledgers that balance, one final
//! state per account; one recharge per client operation and account; amounts the
//! bounds can take in.

use super::*;
use crate::billing::{ChargeWithoutCredit, OverCharge, Reconciliation};

#[test]
fn a_charge_credited_twice_to_one_account_is_found() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        captured(55, 7, 1000),
        ok(1, debit(7, 450)),
        settled(7, 1050, &[55, 55]),
    ]);
    let explanation = "the ledger credits charge 55 twice to account 7 (final state at op 4): one charge, two credits";
    let expected = invalid(vec![about(K::DuplicateCredit, 7, explanation, &[2, 4], 1000)]);
    assert_eq!(verdict(ChargeWithoutCredit::default(), &h), expected);
}

#[test]
fn a_ledger_whose_entries_disagree_with_its_balance_is_found() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        open(8, 0, 100, 1000),
        with_entries(settled(7, 500, &[]), Balance(480)),
        with_entries(settled(8, 0, &[]), Missing),
    ]);
    let explanation = "account 7's ledger entries sum to 480 cents but its ledger balance is 500 cents \
                       (final state at op 2)";
    let expected = invalid(vec![about(K::LedgerUnbalanced, 7, explanation, &[2], 20)]);
    assert_eq!(verdict(Reconciliation::default(), &h), expected);
}

#[test]
fn two_captures_for_one_operation_are_found_whatever_their_keys() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        serving(keyed(captured(55, 7, 1000), "a"), 1),
        serving(keyed(captured(56, 7, 1000), "b"), 1),
        ok(1, debit(7, 450)),
    ]);
    let anomalies = verdict(OverCharge::default(), &h);
    let duplicate = anomalies.anomalies().iter().find(|g| g.kind == K::DuplicateRecharge);
    let explanation = "op 3: the gateway captured 1000 cents from account 7's card (charge 56) for \
                       client operation 1, for which it already captured charge 55 at op 2: one \
                       recharge per operation and account";
    assert_eq!(
        duplicate.map(|g| g.first.clone()),
        Some(about(K::DuplicateRecharge, 7, explanation, &[2, 3, 1], 1000))
    );
}

#[test]
fn two_final_states_for_one_account_are_unknown_never_a_duplicate_credit() {
    let h = history(vec![
        open(1, 900, 1000, 3000),
        invoke(1, debit(1, 100)),
        serving(captured(1, 1, 3000), 1),
        ok(1, reporting(debit(1, 100), 3800)),
        with_entries(settled(1, 3800, &[1]), Balance(3800)),
        with_entries(settled(1, 3800, &[1]), Balance(3800)),
    ]);
    let reason = "account 1 has two final states (ops 4, 5), so its final balances cannot be \
                  judged; the harness reads each account once at the end";
    assert_eq!(verdict(ChargeWithoutCredit::default(), &h), Verdict::Unknown(reason.into()));
    assert_eq!(verdict(Reconciliation::default(), &h), Verdict::Unknown(reason.into()));
}

#[test]
fn a_negative_debit_makes_the_bounds_unknown_never_an_inverted_range() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        invoke(1, debit(1, -500)),
        invoke(2, read(1)),
        ok(2, reporting(read(1), 1500)),
        fail(1, debit(1, -500)),
        with_entries(settled(1, 1500, &[]), Balance(1500)),
    ]);
    let reason = "op 1: a debit of -500 cents on account 1; debits and payments must move a \
                  positive amount and charges a non-negative one, so the account is not judged \
                  from there on";
    assert_eq!(verdict(Reconciliation::default(), &h), Verdict::Unknown(reason.into()));
}

#[test]
fn a_negative_charge_makes_the_bounds_unknown() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        captured(1, 1, -10),
        with_entries(settled(1, 1490, &[1]), Balance(1490)),
    ]);
    let reason = "op 1: a charge of -10 cents on account 1; debits and payments must move a \
                  positive amount and charges a non-negative one, so the account is not judged \
                  from there on";
    assert_eq!(verdict(Reconciliation::default(), &h), Verdict::Unknown(reason.into()));
}
