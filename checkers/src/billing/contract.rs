//! *contract*: what a system under test must do for the money checkers to judge it at
//! all, checked from the history alone and reported as a broken contract
//! (`contract-violation`), never as a money anomaly it would otherwise be mistaken for.
//!
//! - **A charge names an opened account.** The gateway charged the card of an account
//!   the history never opened: no bound on it exists, so the money checkers can only
//!   say `Unknown` (the `balance-bounds` row names it); here it is the system's fault.
//! - **A charge is for a positive amount.** A charge of zero or fewer cents is not a
//!   recharge (a negative one moves money back to the card): the account's bounds stop
//!   there, and every later anomaly on it would go unseen.
//! - **A read that answers `ok` reports the balance, of the account asked about.** A
//!   read is asked for one thing; an `ok` read with no balance (no value at all, or one
//!   without a balance), an `ok` answer that carries an error, or one about another
//!   account than the invocation's reports nothing the checkers could hold against the
//!   history, and would pass every check by saying nothing. (A debit or payment may
//!   answer `ok` without a balance.)
//!
//! Witnesses: the charge, or the operation's invocation and completion.

use crate::checker::{Checker, Event, Interest};
use crate::fast::{FastMap, FastSet};
use crate::history::{AccountId, F, Observed, OpType, Process, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks the part of the contract the history can show.
#[derive(Default)]
pub struct Contract {
    opened: FastSet<AccountId>,
    /// The first charge attempt on each account not (yet) opened: its index and amount.
    unopened: FastMap<AccountId, (u64, i64)>,
    findings: Findings,
}

impl Checker for Contract {
    fn name(&self) -> &'static str {
        "contract"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.value) {
            (Process::Harness, Value::Open(spec)) if ev.kind() == OpType::Ok => {
                self.opened.insert(spec.account);
            }
            (Process::Gateway, Value::Charge(c)) => {
                if !self.opened.contains(&c.account) {
                    self.unopened.entry(c.account).or_insert((ev.index(), c.amount));
                }
                if c.amount <= 0 {
                    self.broken(
                        Subject::Account(c.account),
                        vec![ev.index()],
                        format!(
                            "op {}: the system asked the gateway to charge {} cents to account {}'s \
                             card (charge {}): a recharge is a positive amount",
                            ev.index(),
                            c.amount,
                            c.account,
                            c.charge
                        ),
                    );
                }
            }
            (Process::Client(_), _) if ev.kind() == OpType::Ok => self.answer(ev),
            _ => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::GATEWAY.or(Interest::HARNESS).or(Interest::CLIENT_COMPLETION)
    }

    fn finish(&mut self) -> Verdict {
        let mut unopened: Vec<_> =
            self.unopened.drain().filter(|(a, _)| !self.opened.contains(a)).collect();
        unopened.sort_unstable();
        for (account, (index, amount)) in unopened {
            self.findings.anomaly(Anomaly {
                kind: AnomalyKind::ContractViolation,
                subject: Subject::Account(account),
                explanation: format!(
                    "op {index}: the system asked the gateway to charge {amount} cents to the card \
                     of account {account}, which the history never opens"
                ),
                ops: vec![index],
                magnitude: amount.max(0),
            });
        }
        self.findings.verdict()
    }
}

impl Contract {
    fn answer(&mut self, ev: &Event<'_>) {
        if !matches!(ev.op.f, F::Debit | F::Payment | F::Read) {
            return;
        }
        // The account asked about, from the invocation; what the system answered, from
        // the completion's own value (none at all is no balance).
        let Some(asked) = ev.invocation.and_then(|inv| match &inv.value {
            Value::Account(a) => Some(a.account),
            _ => None,
        }) else {
            return;
        };
        let (answered, balance) = match &ev.op.value {
            Value::Account(a) => (a.account, a.balance.as_ref()),
            _ => (asked, None),
        };
        let (index, invoked, f) = (ev.index(), ev.invoke_index(), &ev.op.f);
        let account = asked;
        let said = match (balance, f) {
            _ if answered != asked => format!("answered ok about account {answered}"),
            (Some(Observed::Error(e)), _) => format!("answered ok with an error ({e:?})"),
            (None, F::Read) => "answered ok without a balance".to_string(),
            _ => return,
        };
        self.broken(
            Subject::Account(account),
            vec![invoked, index],
            format!(
                "op {index}: a {f} of account {account} (invoked at op {invoked}) {said}: an ok \
                 read reports the balance, and an ok answer carries no error"
            ),
        );
    }

    fn broken(&mut self, subject: Subject, ops: Vec<u64>, explanation: String) {
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::ContractViolation,
            subject,
            explanation,
            ops,
            magnitude: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn a_charge_on_an_account_never_opened_is_a_broken_contract() {
        let h = history(vec![open(1, 500, 1000, 5000), captured(7, 2, 5000)]);
        let v = verdict(Contract::default(), &h);
        let a = &v.anomalies()[0].first;
        assert_eq!(a.kind, AnomalyKind::ContractViolation);
        assert_eq!(a.subject, Subject::Account(2));
        assert!(a.explanation.contains("never opens"), "{}", a.explanation);
    }

    #[test]
    fn a_charge_of_no_cents_or_fewer_is_a_broken_contract_and_a_positive_one_is_not() {
        let h = history(vec![open(1, 500, 1000, 5000), captured(7, 1, 0), captured(8, 1, -300)]);
        let v = verdict(Contract::default(), &h);
        assert_eq!(v.anomalies()[0].count, 2, "{v:?}");
        let fine = history(vec![open(1, 500, 1000, 5000), captured(7, 1, 5000)]);
        assert!(verdict(Contract::default(), &fine).is_valid());
    }

    #[test]
    fn an_ok_read_without_a_balance_or_with_an_error_is_a_broken_contract() {
        let silent = history(vec![open(1, 500, 1000, 5000), invoke(0, read(1)), ok(0, read(1))]);
        let v = verdict(Contract::default(), &silent);
        assert_eq!(v.anomalies()[0].first.ops, vec![1, 2]);
        let mut erring = ok(0, debit(1, 5));
        if let Value::Account(a) = &mut erring.value {
            a.balance = Some(Observed::Error("READONLY".into()));
        }
        let h = history(vec![open(1, 500, 1000, 5000), invoke(0, debit(1, 5)), erring]);
        assert!(!verdict(Contract::default(), &h).is_valid());
    }

    #[test]
    fn an_ok_read_with_no_value_or_about_another_account_is_a_broken_contract() {
        let mut bare = ok(0, read(1));
        bare.value = Value::Nil;
        let h = history(vec![open(1, 500, 1000, 5000), invoke(0, read(1)), bare]);
        assert!(!verdict(Contract::default(), &h).is_valid());
        let h = history(vec![
            open(1, 500, 1000, 5000),
            open(2, 500, 1000, 5000),
            invoke(0, read(1)),
            ok(0, reporting(read(2), 99_999)),
        ]);
        let v = verdict(Contract::default(), &h);
        let a = &v.anomalies()[0].first;
        assert!(a.explanation.contains("about account 2"), "{}", a.explanation);
    }

    #[test]
    fn an_ok_debit_without_a_balance_and_reads_reporting_one_or_none_keep_the_contract() {
        let h = history(vec![
            open(1, 500, 1000, 5000),
            invoke(0, debit(1, 5)),
            ok(0, debit(1, 5)),
            invoke(1, read(1)),
            ok(1, reporting(read(1), 495)),
            invoke(1, read(1)),
            ok(1, reporting_none(read(1))),
        ]);
        assert!(verdict(Contract::default(), &h).is_valid());
    }
}
