//! Tiny literal histories, one or more per anomaly kind, asserting whole verdicts.
//!
//! - here: one module per checker, as first written;
//! - `reads`: every reported balance checked (impossible-balance, lost-write);
//! - `windows`: W with any operation in flight, and fail-safe with probe intervals;
//! - `ground_truth`: duplicate credits, unbalanced ledgers, one recharge per operation,
//!   and overflowing sums;
//! - `gateway_faults`: only card declines are declines; captures stand whatever the
//!   caller was told;
//! - `layout`: the stores a final state must hold, from the harness's `layout` record.

mod attribution;
mod gateway_faults;
mod ground_truth;
mod layout;
mod reads;
mod windows;

use crate::history::Observed::{Balance, Error, Missing};
use crate::history::StoreStatus::{Healthy, ReadOnly};
use crate::testkit::*;
use crate::verdict::AnomalyKind as K;
use crate::verdict::Verdict;

mod charge_without_credit {
    use super::*;

    #[test]
    fn a_captured_charge_the_ledger_never_credited_is_found() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            captured(55, 7, 1000),
            ok(1, debit(7, 450)),
            settled(7, 1050, &[]),
        ]);
        let explanation = "the gateway captured 1000 cents from account 7's card (charge 55, op 2), \
                           but the ledger never credited it (final state at op 4)";
        let expected = invalid(vec![about(K::ChargeWithoutCredit, 7, explanation, &[2, 4], 1000)]);
        assert_eq!(verdict(crate::billing::ChargeWithoutCredit::default(), &h), expected);
    }

    #[test]
    fn credits_for_declined_unknown_or_foreign_charges_are_found() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            open(8, 500, 100, 1000),
            declined(55, 7, 1000),
            captured(56, 8, 1000),
            settled(7, 500, &[55, 56, 99]),
            settled(8, 1500, &[56]),
        ]);
        let expected = invalid(vec![
            about(
                K::CreditWithoutCharge,
                7,
                "the ledger credits charge 55 to account 7 (final state at op 4), but the gateway \
                 declined it (op 2)",
                &[2, 4],
                1000,
            ),
            about(
                K::CreditWithoutCharge,
                7,
                "the ledger credits charge 56 to account 7 (final state at op 4), but charge 56 (op 3) \
                 was for account 8",
                &[3, 4],
                1000,
            ),
            about(
                K::CreditWithoutCharge,
                7,
                "the ledger credits charge 99 to account 7 (final state at op 4), but the gateway never \
                 saw a charge 99",
                &[4],
                0,
            ),
            about(
                K::DuplicateCredit,
                8,
                "the ledger credits charge 56 to account 7 (final state at op 4) and to account 8 (final \
                 state at op 5): one charge, two credits",
                &[3, 4, 5],
                1000,
            ),
        ]);
        assert_eq!(verdict(crate::billing::ChargeWithoutCredit::default(), &h), expected);
    }

    #[test]
    fn captured_money_missing_from_the_balance_store_is_found() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            captured(55, 7, 1000),
            ok(1, debit(7, 450)),
            fin(7, Balance(50), Balance(1050), Some(false), &[55]),
        ]);
        let explanation = "account 7's in-flight balance ends at 50 cents, 1000 cents below the least it \
                           can hold (1050), though 1000 cents were captured from its card: captured \
                           charges are missing from the balance store (final state at op 4)";
        let expected = invalid(vec![about(K::ChargeNotInFlight, 7, explanation, &[4, 2], 1000)]);
        assert_eq!(verdict(crate::billing::ChargeWithoutCredit::default(), &h), expected);
    }

    #[test]
    fn an_unsure_charge_may_be_credited_or_not() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            open(8, 500, 100, 1000),
            unsure(55, 7, 1000),
            unsure(56, 8, 1000),
            settled(7, 1500, &[55]),
            settled(8, 500, &[]),
        ]);
        assert_eq!(verdict(crate::billing::ChargeWithoutCredit::default(), &h), Verdict::Valid);
    }

    #[test]
    fn a_capture_on_an_account_without_final_state_is_unknown() {
        let h = history(vec![open(7, 500, 100, 1000), captured(55, 7, 1000)]);
        let reason = "account 7 has no final state, so its charges' credits cannot be checked";
        assert_eq!(
            verdict(crate::billing::ChargeWithoutCredit::default(), &h),
            Verdict::Unknown(reason.into())
        );
    }
}

mod over_charge {
    use super::*;

    #[test]
    fn a_capture_while_the_balance_stayed_above_the_threshold_is_found() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 5)),
            serving(captured(55, 7, 1000), 1),
        ]);
        let explanation = "op 2: the gateway captured 1000 cents from account 7's card (charge 55) \
                           although its balance was at least 495 cents since op 1, never below the 100-cent \
                           recharge threshold";
        let expected = invalid(vec![about(K::OverCharge, 7, explanation, &[2], 395)]);
        assert_eq!(verdict(crate::billing::OverCharge::default(), &h), expected);
    }

    #[test]
    fn a_second_recharge_for_one_need_is_found_with_the_first() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            captured(55, 7, 1000),
            captured(56, 7, 1000),
            ok(1, debit(7, 450)),
        ]);
        let explanation = "op 3: the gateway captured 1000 cents from account 7's card (charge 56) \
                           although its balance was at least 1050 cents since op 2, never below the 100-cent \
                           recharge threshold; the capture before it was op 2";
        let expected = invalid(vec![about(K::OverCharge, 7, explanation, &[3, 2], 950)]);
        assert_eq!(verdict(crate::billing::OverCharge::default(), &h), expected);
    }

    #[test]
    fn two_captures_with_one_idempotency_key_are_found() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            open(8, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            invoke(2, debit(8, 450)),
            keyed(captured(55, 7, 1000), "need-1"),
            keyed(captured(56, 8, 1000), "need-1"),
        ]);
        let anomaly = crate::verdict::Anomaly {
            kind: K::DuplicateRecharge,
            subject: crate::verdict::Subject::Key("need-1".into()),
            explanation:
                "op 5: the gateway captured 1000 cents from account 8's card (charge 56) with \
                          idempotency key \"need-1\", already captured by charge 55 at op 4"
                    .into(),
            ops: vec![4, 5],
            magnitude: 1000,
        };
        assert_eq!(verdict(crate::billing::OverCharge::default(), &h), invalid(vec![anomaly]));
    }

    #[test]
    fn a_payment_landing_between_the_decision_and_the_capture_is_no_over_charge() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            invoke(2, payment(7, 600)),
            ok(2, payment(7, 600)),
            captured(55, 7, 1000),
            ok(1, debit(7, 450)),
        ]);
        assert_eq!(verdict(crate::billing::OverCharge::default(), &h), Verdict::Valid);
    }

    #[test]
    fn indeterminate_and_pending_debits_may_have_lowered_the_balance() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 300)),
            info(1, debit(7, 300)),
            invoke(2, debit(7, 101)),
            invoke(3, debit(7, 1)),
            captured(55, 7, 1000),
        ]);
        assert_eq!(verdict(crate::billing::OverCharge::default(), &h), Verdict::Valid);
    }

    #[test]
    fn a_failed_debit_no_longer_lowers_the_balance() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            fail(1, debit(7, 450)),
            invoke(2, debit(7, 1)),
            serving(captured(55, 7, 1000), 3),
        ]);
        let explanation = "op 4: the gateway captured 1000 cents from account 7's card (charge 55) \
                           although its balance was at least 499 cents since op 3, never below the 100-cent \
                           recharge threshold";
        let expected = invalid(vec![about(K::OverCharge, 7, explanation, &[4], 399)]);
        assert_eq!(verdict(crate::billing::OverCharge::default(), &h), expected);
    }
}

mod wrongful_suspension {
    use super::*;

    fn suspended(account: u32, balance: i64) -> crate::history::Op {
        fin(account, Balance(balance), Balance(balance), Some(true), &[])
    }

    #[test]
    fn a_suspension_without_any_decline_is_found() {
        let h = history(vec![open(7, 500, 100, 1000), suspended(7, 500)]);
        let explanation =
            "account 7 ends suspended (final state at op 1) although its card was never declined";
        let expected = invalid(vec![about(K::WrongfulSuspension, 7, explanation, &[1], 400)]);
        assert_eq!(verdict(crate::billing::WrongfulSuspension::default(), &h), expected);
    }

    #[test]
    fn a_suspension_after_a_decline_at_a_low_balance_is_justified() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            declined(55, 7, 1000),
            fail(1, debit(7, 450)),
            suspended(7, 50),
        ]);
        assert_eq!(verdict(crate::billing::WrongfulSuspension::default(), &h), Verdict::Valid);
    }

    #[test]
    fn a_suspension_after_declines_at_a_high_balance_is_found() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 5)),
            declined(55, 7, 1000),
            declined(56, 7, 1000),
            ok(1, debit(7, 5)),
            suspended(7, 495),
        ]);
        let explanation = "account 7 ends suspended (final state at op 5) although its balance was at \
                           least 495 cents, not below the 100-cent recharge threshold, at each of its 2 \
                           card declines (ops 2 to 3)";
        let expected = invalid(vec![about(K::WrongfulSuspension, 7, explanation, &[5, 2, 3], 395)]);
        assert_eq!(verdict(crate::billing::WrongfulSuspension::default(), &h), expected);
    }
}

mod reconciliation {
    use super::*;

    #[test]
    fn balances_within_the_bounds_of_indeterminate_operations_are_valid() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 20)),
            info(1, debit(7, 20)),
            invoke(2, payment(7, 300)),
            info(2, payment(7, 300)),
            unsure(55, 7, 1000),
            settled(7, 480, &[]),
        ]);
        assert_eq!(verdict(crate::billing::Reconciliation::default(), &h), Verdict::Valid);
    }

    #[test]
    fn balances_outside_the_bounds_and_disagreeing_stores_are_found() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 20)),
            ok(1, debit(7, 20)),
            fin(7, Balance(480), Balance(500), Some(false), &[]),
        ]);
        let expected = invalid(vec![
            about(
                K::BalanceOutOfBounds,
                7,
                "account 7's ledger balance ends at 500 cents, outside the 480 to 480 cents its \
                 operations allow (final state at op 3)",
                &[3],
                20,
            ),
            about(
                K::StoresDisagree,
                7,
                "account 7 ends with 480 cents in the balance store but 500 cents in the ledger (final \
                 state at op 3)",
                &[3],
                20,
            ),
        ]);
        assert_eq!(verdict(crate::billing::Reconciliation::default(), &h), expected);
    }

    #[test]
    fn a_balance_missing_after_heal_is_lost() {
        let h =
            history(vec![open(7, 500, 100, 1000), fin(7, Missing, Balance(500), Some(false), &[])]);
        let explanation = "account 7 has no in-flight (balance store) balance after the faults healed: it \
                           was lost (final state at op 1)";
        let expected = invalid(vec![about(K::LostBalance, 7, explanation, &[1], 1)]);
        assert_eq!(verdict(crate::billing::Reconciliation::default(), &h), expected);
    }

    #[test]
    fn an_unreadable_store_makes_the_account_unknown() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            fin(7, Error("READONLY".into()), Balance(500), None, &[]),
        ]);
        let reason =
            "account 7's in-flight (balance store) balance could not be read at the end: READONLY";
        assert_eq!(
            verdict(crate::billing::Reconciliation::default(), &h),
            Verdict::Unknown(reason.into())
        );
    }

    #[test]
    fn balances_below_the_floor_are_found_when_reported_and_at_the_end() {
        let h = history(vec![
            open_floor(7, 10, 0),
            invoke(1, debit(7, 15)),
            ok(1, reporting(debit(7, 15), -5)),
            settled(7, -5, &[]),
        ]);
        let expected = invalid(vec![
            about(
                K::BelowFloor,
                7,
                "op 2 reported account 7's balance as -5 cents, below its floor of 0 cents",
                &[2],
                5,
            ),
            about(
                K::BelowFloor,
                7,
                "account 7's in-flight (balance store) balance ends at -5 cents, below its floor of 0 \
                 cents (final state at op 3)",
                &[3],
                5,
            ),
            about(
                K::BelowFloor,
                7,
                "account 7's ledger balance ends at -5 cents, below its floor of 0 cents (final state at op 3)",
                &[3],
                5,
            ),
        ]);
        assert_eq!(verdict(crate::billing::Reconciliation::default(), &h), expected);
    }

    #[test]
    fn a_history_without_final_states_is_unknown_and_says_what_to_do() {
        let h =
            history(vec![open(7, 500, 100, 1000), invoke(1, debit(7, 20)), ok(1, debit(7, 20))]);
        let Verdict::Unknown(reason) = verdict(crate::billing::Reconciliation::default(), &h)
        else {
            panic!()
        };
        assert!(reason.starts_with("the history has no final balances"), "{reason}");
        assert!(reason.ends_with("re-run it to completion"), "{reason}");
    }

    #[test]
    fn an_account_without_a_final_state_is_unknown() {
        let h =
            history(vec![open(7, 500, 100, 1000), open(8, 500, 100, 1000), settled(7, 500, &[])]);
        let reason = "account 8 (opened at op 1) has no final state";
        assert_eq!(
            verdict(crate::billing::Reconciliation::default(), &h),
            Verdict::Unknown(reason.into())
        );
    }
}

mod fail_safe {
    use super::*;

    #[test]
    fn a_capture_inside_a_read_only_window_for_a_request_made_inside_it_is_found() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            probe(Healthy, &[], &[]),
            probe(ReadOnly, &[7], &[]),
            invoke(1, debit(7, 1)),
            serving(captured(55, 7, 1000), 3),
            probe(ReadOnly, &[], &[]),
        ]);
        let explanation = "op 4: the gateway captured 1000 cents from account 7's card (charge 55) while \
                           the balance store was read-only and had lost its balance (probes at ops 2 and \
                           5; unsafe since op 2), for a request made after that: auto-recharge is not \
                           fail-safe";
        let expected = invalid(vec![about(K::UnsafeCharge, 7, explanation, &[4, 2, 5], 1000)]);
        assert_eq!(verdict(crate::billing::FailSafe::default(), &h), expected);
    }

    #[test]
    fn a_request_made_before_the_window_opened_may_have_decided_before_the_fault() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            probe(Healthy, &[], &[]),
            invoke(1, debit(7, 450)),
            probe(ReadOnly, &[], &[]),
            invoke(2, debit(7, 1)),
            captured(55, 7, 1000),
            probe(ReadOnly, &[], &[]),
        ]);
        assert_eq!(verdict(crate::billing::FailSafe::default(), &h), Verdict::Valid);
    }

    #[test]
    fn a_capture_just_before_the_store_healed_may_have_come_after_it() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            probe(ReadOnly, &[], &[]),
            invoke(1, debit(7, 450)),
            captured(55, 7, 1000),
            probe(Healthy, &[], &[]),
        ]);
        assert_eq!(verdict(crate::billing::FailSafe::default(), &h), Verdict::Valid);
    }

    #[test]
    fn a_capture_while_the_balance_is_missing_is_found_unless_restored() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            open(8, 500, 100, 1000),
            probe(Healthy, &[7, 8], &[]),
            invoke(1, debit(7, 1)),
            serving(captured(55, 7, 1000), 3),
            invoke(2, debit(8, 1)),
            serving(captured(56, 8, 1000), 5),
            probe(Healthy, &[], &[8]),
        ]);
        let explanation = "op 4: the gateway captured 1000 cents from account 7's card (charge 55) while \
                           the balance store had lost its balance (probes at ops 2 and 7; unsafe since op \
                           2), for a request made after that: auto-recharge is not fail-safe";
        let expected = invalid(vec![about(K::UnsafeCharge, 7, explanation, &[4, 2, 7], 1000)]);
        assert_eq!(verdict(crate::billing::FailSafe::default(), &h), expected);
    }
}

mod shared_bounds {
    use super::*;
    use crate::runner::Runner;

    fn run(h: &crate::history::History) -> crate::report::Report {
        let mut runner = Runner::new(crate::billing::checkers(None));
        h.iter().for_each(|op| runner.observe(op, None));
        runner.finish()
    }

    #[test]
    fn shared_bounds_judge_as_each_checker_alone_does() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 5)),
            captured(55, 7, 1000),
            ok(1, debit(7, 5)),
            settled(7, 1495, &[]),
        ]);
        let report = run(&h);
        let alone = [
            verdict(crate::billing::ChargeWithoutCredit::default(), &h),
            verdict(crate::billing::OverCharge::default(), &h),
            verdict(crate::billing::WrongfulSuspension::default(), &h),
            verdict(crate::billing::Reconciliation::default(), &h),
        ];
        let shared: Vec<Verdict> = report.results[1..5].iter().map(|r| r.verdict.clone()).collect();
        assert_eq!(shared, alone);
        assert_eq!(report.results[6].checker, "balance-bounds");
        assert_eq!(report.results[6].verdict, Verdict::Valid);
    }

    #[test]
    fn operations_the_bounds_cannot_account_for_are_reported_once() {
        let h =
            history(vec![open(7, 500, 100, 1000), invoke(1, debit(8, 5)), settled(7, 500, &[])]);
        let report = run(&h);
        let reason = "op 1 concerns account 8, which no `open` operation created";
        assert_eq!(report.results[6].verdict, Verdict::Unknown(reason.into()));
        assert!(report.results[1..6].iter().all(|r| r.verdict.is_valid()), "{report}");
    }

    #[test]
    fn sums_beyond_64_bits_make_the_readers_unknown_with_the_op_and_never_wrap() {
        let h = history(vec![
            open(7, 0, 100, 1000),
            invoke(1, debit(7, i64::MAX)),
            invoke(2, debit(7, 2)),
            settled(7, 0, &[]),
        ]);
        let report = run(&h);
        let reason = "op 2 takes account 7's balance bounds beyond what 64 bits of cents hold, so the \
                      account is not judged from there on";
        for r in &report.results[1..5] {
            assert_eq!(r.verdict, Verdict::Unknown(reason.into()), "{}", r.checker);
        }
        assert_eq!(report.results[6].verdict, Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_capture_near_i64_max_makes_its_account_unknown_and_leaves_the_others_judged() {
        let h = history(vec![
            open(7, 10, 100, 1000),
            open(8, 500, 100, 1000),
            captured(55, 7, i64::MAX),
            invoke(1, debit(8, 5)),
            captured(56, 8, 1000),
            ok(1, debit(8, 5)),
            settled(7, 10, &[55]),
            settled(8, 1495, &[56]),
        ]);
        let report = run(&h);
        let reason = "op 2 takes account 7's balance bounds beyond what 64 bits of cents hold, so the \
                      account is not judged from there on";
        assert_eq!(report.results[6].verdict, Verdict::Unknown(reason.into()));
        let over_charge = &report.results[2];
        assert_eq!(over_charge.verdict.anomalies()[0].kind, K::OverCharge, "{report}");
        assert_eq!(
            over_charge.verdict.anomalies()[0].first.subject,
            crate::verdict::Subject::Account(8)
        );
        assert_eq!(report.results[4].verdict, Verdict::Unknown(reason.into()), "reconciliation");
    }
}
