//! *reconciliation*: Jepsen's bank test across the two stores. Every balance a client
//! reported lies within what the history allows while it ran (see [`reported`](super::reported),
//! which also tells a lost write);
//! at the end each store's balance lies within [L, U], the two agree, the ledger's
//! entries sum to its balance, nothing is lost, and no balance anyone reported went
//! below the account's floor.
//!
//! Which stores a final state must hold is the harness's `layout` record's to say: a
//! system whose only balance is the ledger's (`{"in_flight": false}`) has no in-flight
//! balance to lose or compare. Without that record, or with `{"in_flight": true}`, a
//! final state lacking its in-flight balance leaves the account `Unknown`: the harness
//! did not read what it should have, which is no evidence of a loss. An in-flight
//! balance a final state does carry is judged whatever the layout says.

use super::bounds::Sums;
use super::reported::Reported;
use super::shared::{BoundsView, SharedBounds};
use crate::checker::{Checker, Event, Interest};
use crate::fast::FastSet;
use crate::history::{AccountId, F, FinalState, LayoutShape, Observed, OpType, Process, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks final balances against the bounds, each other, and floors.
#[derive(Default)]
pub struct Reconciliation {
    bounds: BoundsView,
    /// The highest floor of any account: balances at or above it need no lookup.
    highest_floor: Option<i64>,
    /// The first `layout` record, with its op.
    layout: Option<(u64, LayoutShape)>,
    finals: Vec<(u64, FinalState)>,
    findings: Findings,
}

impl Reconciliation {
    /// A checker reading a suite's shared bounds.
    pub(crate) fn sharing(bounds: &SharedBounds) -> Reconciliation {
        Reconciliation { bounds: bounds.view(), ..Reconciliation::default() }
    }
}

impl Checker for Reconciliation {
    fn name(&self) -> &'static str {
        "reconciliation"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.value) {
            (Process::Client(p), Value::Account(op)) if ev.kind() == OpType::Ok => {
                if let Some(balance) = &op.balance {
                    self.check_range(ev, p, op.account, balance);
                }
                if let Some(Observed::Balance(b)) = op.balance {
                    self.check_reported(ev.index(), op.account, b);
                }
            }
            (Process::Harness, Value::Final(s)) if ev.op.f == F::Final => {
                self.finals.push((ev.index(), s.clone()))
            }
            (Process::Harness, Value::Open(spec)) => {
                self.highest_floor = self.highest_floor.max(spec.floor);
            }
            // Only a layout the harness declared (`ok`) says what the finals owe.
            (Process::Harness, Value::Layout(shape))
                if ev.op.f == F::Layout && ev.kind() == OpType::Ok =>
            {
                self.declared(ev.index(), *shape)
            }
            _ => {}
        }
        self.bounds.observe(ev);
    }

    fn interest(&self) -> Interest {
        self.bounds.interest().or(Interest::CLIENT_COMPLETION).or(Interest::HARNESS)
    }

    fn finish(&mut self) -> Verdict {
        if self.finals.is_empty() {
            return Verdict::Unknown(
                "the history has no final balances (harness `final` operations): the run stopped before \
                 reading them, so nothing can be reconciled; re-run it to completion"
                    .into(),
            );
        }
        let all = std::mem::take(&mut self.finals);
        self.check_every_account_has_a_final(&all);
        let (finals, _) = super::finals::single(all, |(i, s)| (*i, s.account), &mut self.findings);
        finals.iter().for_each(|(index, state)| self.reconcile(*index, state));
        self.bounds.verdict().merge(self.findings.verdict())
    }
}

impl Reconciliation {
    /// Keeps the first layout; a later one that says otherwise leaves the stores'
    /// shape, and so every final state, in doubt.
    fn declared(&mut self, index: u64, shape: LayoutShape) {
        match self.layout {
            None => self.layout = Some((index, shape)),
            Some((first, declared)) if declared != shape => self.findings.unknown(|| {
                format!(
                    "ops {first} and {index} record different layouts ({} and {}), so which \
                     stores the final states must hold cannot be told",
                    describe(declared),
                    describe(shape)
                )
            }),
            Some(_) => {}
        }
    }

    fn check_range(
        &mut self,
        ev: &Event<'_>,
        process: u32,
        account: AccountId,
        balance: &Observed,
    ) {
        let Some(Some(range)) = self.bounds.with(account, |s| s.range(process)) else { return };
        let (index, invoked, f) = (ev.index(), ev.invoke_index(), &ev.op.f);
        let reported = Reported { index, invoked, f, account, balance };
        if let Some(anomaly) = reported.judge(range) {
            self.findings.anomaly(anomaly);
        }
    }

    fn check_reported(&mut self, index: u64, account: AccountId, balance: i64) {
        if self.highest_floor.is_none_or(|highest| balance >= highest) {
            return;
        }
        let Some(floor) = self.bounds.get(account).as_ref().and_then(Sums::floor) else { return };
        if balance < floor {
            self.findings.anomaly(Anomaly {
                kind: AnomalyKind::BelowFloor,
                subject: Subject::Account(account),
                explanation: format!(
                    "op {index} reported account {account}'s balance as {balance} cents, below its floor \
                     of {floor} cents"
                ),
                ops: vec![index],
                magnitude: floor.saturating_sub(balance),
            });
        }
    }

    fn reconcile(&mut self, index: u64, s: &FinalState) {
        let account = s.account;
        let Some(sums) = self.bounds.get(account) else {
            if self.bounds.overflowed(account) {
                return;
            }
            self.findings.unknown(|| {
                format!("op {index} is a final state of account {account}, never opened")
            });
            return;
        };
        let in_flight = match &s.in_flight {
            Some(seen) => self.store(index, account, "in-flight (balance store)", seen, &sums),
            None => {
                self.check_no_in_flight(index, account);
                None
            }
        };
        let ledger = self.store(index, account, "ledger", &s.ledger, &sums);
        if let (Some(entries), Some(ledger)) = (&s.entries, ledger) {
            self.check_entries(index, account, entries, ledger);
        }
        if let (Some(x), Some(y)) = (in_flight, ledger)
            && x != y
        {
            self.findings.anomaly(Anomaly {
                kind: AnomalyKind::StoresDisagree,
                subject: Subject::Account(account),
                explanation: format!(
                    "account {account} ends with {x} cents in the balance store but {y} cents in the \
                     ledger (final state at op {index})"
                ),
                ops: vec![index],
                magnitude: x.abs_diff(y).min(i64::MAX as u64) as i64,
            });
        }
    }

    /// One store's final balance, checked against L, U and the floor.
    fn store(
        &mut self,
        index: u64,
        account: AccountId,
        store: &str,
        seen: &Observed,
        sums: &Sums,
    ) -> Option<i64> {
        let balance = match seen {
            Observed::Balance(b) => *b,
            Observed::Missing => {
                self.findings.anomaly(lost(index, account, store));
                return None;
            }
            Observed::Error(e) => {
                self.findings.unknown(|| {
                    format!("account {account}'s {store} balance could not be read at the end: {e}")
                });
                return None;
            }
        };
        let (low, high) = (sums.low(), sums.high());
        if balance < low || balance > high {
            self.findings.anomaly(Anomaly {
                kind: AnomalyKind::BalanceOutOfBounds,
                subject: Subject::Account(account),
                explanation: format!(
                    "account {account}'s {store} balance ends at {balance} cents, outside the {low} to \
                     {high} cents its operations allow (final state at op {index})"
                ),
                ops: vec![index],
                magnitude: low.saturating_sub(balance).max(balance.saturating_sub(high)),
            });
        }
        if let Some(floor) = sums.floor().filter(|&floor| balance < floor) {
            self.findings.anomaly(Anomaly {
                kind: AnomalyKind::BelowFloor,
                subject: Subject::Account(account),
                explanation: format!(
                    "account {account}'s {store} balance ends at {balance} cents, below its floor of \
                     {floor} cents (final state at op {index})"
                ),
                ops: vec![index],
                magnitude: floor.saturating_sub(balance),
            });
        }
        Some(balance)
    }

    /// A final state without an in-flight balance is complete only when the layout
    /// says the system keeps none.
    fn check_no_in_flight(&mut self, index: u64, account: AccountId) {
        let owed = match self.layout {
            Some((_, LayoutShape { in_flight: false })) => return,
            Some((at, _)) => format!("the layout recorded at op {at} keeps one"),
            None => "the history records no layout (a harness `layout` operation), so one is \
                     expected"
                .to_owned(),
        };
        self.findings.unknown(|| {
            format!(
                "account {account}'s final state (op {index}) has no in-flight balance, though \
                 {owed}: the harness did not read it, so the balance store cannot be judged"
            )
        });
    }

    /// The ledger's entries must sum to its balance (`null`: no entries, a sum of 0).
    fn check_entries(&mut self, index: u64, account: AccountId, entries: &Observed, ledger: i64) {
        let sum = match entries {
            Observed::Balance(sum) => *sum,
            Observed::Missing => 0,
            Observed::Error(e) => {
                self.findings.unknown(|| {
                    format!(
                        "account {account}'s ledger entries could not be summed at the end: {e}"
                    )
                });
                return;
            }
        };
        if sum == ledger {
            return;
        }
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::LedgerUnbalanced,
            subject: Subject::Account(account),
            explanation: format!(
                "account {account}'s ledger entries sum to {sum} cents but its ledger balance is {ledger} cents (final state at op {index})"
            ),
            ops: vec![index],
            magnitude: sum.abs_diff(ledger).min(i64::MAX as u64) as i64,
        });
    }

    fn check_every_account_has_a_final(&mut self, finals: &[(u64, FinalState)]) {
        let seen: FastSet<AccountId> = finals.iter().map(|(_, s)| s.account).collect();
        let mut missing: Vec<(u64, AccountId)> = self
            .bounds
            .accounts()
            .into_iter()
            .filter(|(a, _)| !seen.contains(a))
            .map(|(a, s)| (s.opened_at, a))
            .collect();
        missing.sort_unstable();
        for (opened, account) in missing {
            self.findings.unknown(|| {
                format!("account {account} (opened at op {opened}) has no final state")
            });
        }
    }
}

fn describe(shape: LayoutShape) -> &'static str {
    match shape.in_flight {
        true => "an in-flight balance besides the ledger",
        false => "the ledger's balance only",
    }
}

fn lost(index: u64, account: AccountId, store: &str) -> Anomaly {
    Anomaly {
        kind: AnomalyKind::LostBalance,
        subject: Subject::Account(account),
        explanation: format!(
            "account {account} has no {store} balance after the faults healed: it was lost (final state \
             at op {index})"
        ),
        ops: vec![index],
        magnitude: 1,
    }
}
