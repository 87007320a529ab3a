//! Gateway faults as the billing checkers see them: only a card's declines are
//! declines; a charge the gateway failed to make (`gateway-error`,
//! `gateway-unavailable`) captured nothing and justifies nothing; a capture is ground
//! truth whatever its caller was told (`answer`).

use super::*;
use crate::billing::{ChargeWithoutCredit, OverCharge, Reconciliation, WrongfulSuspension};
use crate::history::ChargeAnswer;
use crate::runner::Runner;

fn suspended(account: u32, balance: i64) -> crate::history::Op {
    fin(account, Balance(balance), Balance(balance), Some(true), &[])
}

#[test]
fn a_suspension_after_gateway_errors_and_an_outage_alone_is_wrongful() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        gateway_failed(55, 7, 1000, "gateway-error"),
        gateway_failed(56, 7, 1000, "gateway-unavailable"),
        ok(1, debit(7, 450)),
        suspended(7, 50),
    ]);
    let explanation =
        "account 7 ends suspended (final state at op 5) although its card was never declined";
    let expected = invalid(vec![about(K::WrongfulSuspension, 7, explanation, &[5], -50)]);
    assert_eq!(verdict(WrongfulSuspension::default(), &h), expected);
}

#[test]
fn a_decline_whose_caller_saw_an_error_still_justifies_a_suspension() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        gateway_failed(55, 7, 1000, "gateway-error"),
        answered(declined(56, 7, 1000), ChargeAnswer::Error),
        info(1, debit(7, 450)),
        suspended(7, 50),
    ]);
    assert_eq!(verdict(WrongfulSuspension::default(), &h), Verdict::Valid);
}

#[test]
fn a_capture_whose_caller_saw_an_error_or_nothing_must_still_be_credited() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        answered(captured(55, 7, 1000), ChargeAnswer::Error),
        info(1, debit(7, 450)),
        invoke(2, debit(7, 10)),
        answered(captured(56, 7, 1000), ChargeAnswer::Lost),
        info(2, debit(7, 10)),
        settled(7, 2040, &[55]),
    ]);
    let explanation = "the gateway captured 1000 cents from account 7's card (charge 56, op 5), but \
                       the ledger never credited it (final state at op 7)";
    let expected = invalid(vec![about(K::ChargeWithoutCredit, 7, explanation, &[5, 7], 1000)]);
    assert_eq!(verdict(ChargeWithoutCredit::default(), &h), expected);
}

#[test]
fn crediting_a_charge_the_gateway_failed_to_make_is_a_credit_without_charge() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        gateway_failed(55, 7, 1000, "gateway-error"),
        ok(1, debit(7, 450)),
        settled(7, 1050, &[55]),
    ]);
    let explanation = "the ledger credits charge 55 to account 7 (final state at op 4), but the gateway \
                       captured nothing for it (gateway-error, op 2)";
    let expected = invalid(vec![about(K::CreditWithoutCharge, 7, explanation, &[2, 4], 1000)]);
    assert_eq!(verdict(ChargeWithoutCredit::default(), &h), expected);
}

#[test]
fn a_failed_gateway_charge_adds_nothing_to_the_bounds() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        gateway_failed(55, 7, 1000, "gateway-unavailable"),
        ok(1, debit(7, 450)),
        settled(7, 1050, &[]),
    ]);
    let explanation = "account 7's in-flight (balance store) balance ends at 1050 cents, outside the 50 \
                       to 50 cents its operations allow (final state at op 4)";
    let anomalies = verdict(Reconciliation::default(), &h);
    let found = &anomalies.anomalies()[0];
    assert_eq!(
        (found.kind, found.first.explanation.as_str()),
        (K::BalanceOutOfBounds, explanation)
    );
}

#[test]
fn every_answer_a_caller_may_get_is_valid_when_the_system_credits_what_was_captured() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        keyed(gateway_failed(55, 7, 1000, "gateway-error"), "recharge-7-1"),
        keyed(gateway_failed(56, 7, 1000, "gateway-unavailable"), "recharge-7-1-b"),
        keyed(answered(captured(57, 7, 1000), ChargeAnswer::Lost), "recharge-7-1-c"),
        info(1, debit(7, 450)),
        settle_invoked(),
        settle_ok(),
        settled(7, 1050, &[57]),
    ]);
    let mut runner = Runner::new(crate::billing::checkers(None));
    h.iter().for_each(|op| runner.observe(op, None));
    let report = runner.finish();
    for result in &report.results {
        assert_eq!(result.verdict, Verdict::Valid, "{}: {report}", result.checker);
    }
    assert_eq!(verdict(OverCharge::default(), &h), Verdict::Valid);
}

#[test]
fn a_second_capture_after_a_lost_answer_is_explained_by_the_lost_answer() {
    let h = history(vec![
        open(7, 500, 100, 1000),
        invoke(1, debit(7, 450)),
        serving(answered(keyed(captured(55, 7, 1000), "op-1"), ChargeAnswer::Lost), 1),
        serving(answered(keyed(captured(56, 7, 1000), "op-1-retry"), ChargeAnswer::Captured), 1),
        ok(1, debit(7, 450)),
    ]);
    let anomalies = verdict(OverCharge::default(), &h);
    let duplicate = anomalies.anomalies().iter().find(|g| g.kind == K::DuplicateRecharge);
    let explanation = "op 3: the gateway captured 1000 cents from account 7's card (charge 56) for \
                       client operation 1, for which it already captured charge 55 at op 2 (whose \
                       answer never reached the system: it charged again instead of asking the \
                       gateway what became of the first): one recharge per operation and account";
    assert_eq!(
        duplicate.map(|g| g.first.clone()),
        Some(about(K::DuplicateRecharge, 7, explanation, &[2, 3, 1], 1000))
    );
}

#[test]
fn a_decline_spelled_by_another_driver_still_justifies_a_suspension() {
    for error in [Some("declined"), None] {
        let decline = crate::history::Op { error: error.map(Into::into), ..declined(55, 7, 1000) };
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            decline,
            ok(1, debit(7, 450)),
            suspended(7, 50),
        ]);
        assert_eq!(verdict(WrongfulSuspension::default(), &h), Verdict::Valid, "{error:?}");
    }
}
