//! Captures and declines for no client operation on the account in flight (a background
//! task, `settle`, a queue drained inside another account's operation): judged over the
//! window since the last capture, and never counted for reads.

use super::*;
use crate::billing::{FailSafe, OverCharge, Reconciliation, WrongfulSuspension};
use crate::history::StoreStatus::Loading;

#[test]
fn a_background_capture_during_a_read_does_not_count_for_reads() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        invoke(1, debit(1, 600)),
        ok(1, reporting(debit(1, 600), 900)),
        invoke(2, read(1)),
        keyed(captured(1, 1, 3000), "bg-1"),
        ok(2, reporting(read(1), 900)),
        invoke(2, read(1)),
        ok(2, reporting(read(1), 900)),
        invoke(2, read(1)),
        ok(2, reporting(read(1), 3900)),
        settled(1, 3900, &[1]),
    ]);
    assert_eq!(verdict(Reconciliation::default(), &h), Verdict::Valid);
}

#[test]
fn a_capture_for_an_operation_on_another_account_does_not_count_for_reads() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        open(2, 500, 1000, 3000),
        invoke(1, debit(1, 600)),
        ok(1, reporting(debit(1, 600), 900)),
        invoke(2, read(1)),
        invoke(3, debit(2, 100)),
        serving(captured(1, 1, 3000), 5),
        ok(2, reporting(read(1), 900)),
        ok(3, reporting(debit(2, 100), 400)),
        invoke(2, read(1)),
        ok(2, reporting(read(1), 900)),
        settled(1, 3900, &[1]),
        settled(2, 400, &[]),
    ]);
    assert_eq!(verdict(Reconciliation::default(), &h), Verdict::Valid);
}

#[test]
fn a_background_capture_during_a_read_is_judged_since_the_last_capture() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        invoke(1, debit(1, 600)),
        ok(1, reporting(debit(1, 600), 900)),
        invoke(2, payment(1, 1000)),
        ok(2, reporting(payment(1, 1000), 1900)),
        invoke(3, read(1)),
        captured(1, 1, 3000),
        ok(3, reporting(read(1), 1900)),
        settled(1, 4900, &[1]),
    ]);
    assert_eq!(verdict(OverCharge::default(), &h), Verdict::Valid);
}

#[test]
fn settle_in_flight_does_not_narrow_the_window_since_the_last_capture() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        invoke(1, debit(1, 600)),
        ok(1, reporting(debit(1, 600), 900)),
        invoke(2, payment(1, 1000)),
        ok(2, reporting(payment(1, 1000), 1900)),
        settle_invoked(),
        captured(1, 1, 3000),
        settle_ok(),
        settled(1, 4900, &[1]),
    ]);
    assert_eq!(verdict(OverCharge::default(), &h), Verdict::Valid);
}

#[test]
fn a_capture_for_the_read_in_flight_is_still_judged_over_the_read() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        invoke(1, debit(1, 600)),
        ok(1, reporting(debit(1, 600), 900)),
        invoke(2, payment(1, 1000)),
        ok(2, reporting(payment(1, 1000), 1900)),
        invoke(3, read(1)),
        serving(captured(1, 1, 3000), 5),
    ]);
    let explanation = "op 6: the gateway captured 3000 cents from account 1's card (charge 1) although \
                       its balance was at least 1900 cents since op 5, never below the 1000-cent \
                       recharge threshold";
    let expected = invalid(vec![about(K::OverCharge, 1, explanation, &[6], 900)]);
    assert_eq!(verdict(OverCharge::default(), &h), expected);
}

#[test]
fn a_background_decline_during_a_read_is_judged_since_the_last_capture() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        invoke(1, debit(1, 600)),
        ok(1, reporting(debit(1, 600), 900)),
        invoke(2, payment(1, 1000)),
        ok(2, reporting(payment(1, 1000), 1900)),
        invoke(3, read(1)),
        declined(1, 1, 3000),
        ok(3, reporting(read(1), 1900)),
        fin(1, Balance(1900), Balance(1900), Some(true), &[]),
    ]);
    assert_eq!(verdict(WrongfulSuspension::default(), &h), Verdict::Valid);
}

#[test]
fn a_background_capture_during_a_read_may_have_been_decided_before_the_fault() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        invoke(1, debit(1, 600)),
        ok(1, reporting(debit(1, 600), 900)),
        probe_invoked(),
        probe(Loading, &[], &[]),
        invoke(2, read(1)),
        captured(1, 1, 3000),
        fail(2, read(1)),
        probe_invoked(),
        probe(Loading, &[], &[]),
        settled(1, 3900, &[1]),
    ]);
    assert_eq!(verdict(FailSafe::default(), &h), Verdict::Valid);
}

#[test]
fn one_operation_may_recharge_two_accounts() {
    let h = history(vec![
        open(1, 1500, 1000, 3000),
        open(2, 500, 1000, 3000),
        invoke(1, debit(1, 600)),
        serving(keyed(captured(1, 1, 3000), "a1"), 2),
        serving(keyed(captured(2, 2, 3000), "a2"), 2),
        ok(1, reporting(debit(1, 600), 3900)),
        settled(1, 3900, &[1]),
        settled(2, 3500, &[2]),
    ]);
    assert_eq!(verdict(OverCharge::default(), &h), Verdict::Valid);
}
