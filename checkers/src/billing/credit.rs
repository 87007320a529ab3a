//! *charge-without-credit*: money the gateway captured reaches the ledger and the
//! balance store; the ledger credits nothing the gateway did not capture, and nothing
//! twice.

use super::shared::{BoundsView, SharedBounds};
use crate::checker::{Checker, Event, Interest};
use crate::fast::{FastMap, FastSet};
use crate::history::{AccountId, ChargeId, F, Observed, OpType, Process, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks that every captured charge is credited, and every credit was captured.
#[derive(Default)]
pub struct ChargeWithoutCredit {
    bounds: BoundsView,
    charges: FastMap<ChargeId, ChargeRec>,
    finals: Vec<FinalRec>,
    findings: Findings,
}

struct ChargeRec {
    account: AccountId,
    amount: i64,
    index: u64,
    kind: OpType,
    /// Why it was not captured, for a `fail` charge (a decline, or a gateway error).
    error: Option<String>,
}

struct FinalRec {
    index: u64,
    account: AccountId,
    /// Absent when the system keeps no in-flight balance (reconciliation judges
    /// whether one was owed).
    in_flight: Option<Observed>,
    ledger_readable: bool,
    credited: Vec<ChargeId>,
}

impl ChargeWithoutCredit {
    /// A checker reading a suite's shared bounds.
    pub(crate) fn sharing(bounds: &SharedBounds) -> ChargeWithoutCredit {
        ChargeWithoutCredit { bounds: bounds.view(), ..ChargeWithoutCredit::default() }
    }
}

impl Checker for ChargeWithoutCredit {
    fn name(&self) -> &'static str {
        "charge-without-credit"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        match (&ev.op.process, &ev.op.f, &ev.op.value) {
            (Process::Gateway, F::Charge, Value::Charge(c)) => {
                let rec = ChargeRec {
                    account: c.account,
                    amount: c.amount,
                    index: ev.index(),
                    kind: ev.kind(),
                    error: ev.op.error.clone(),
                };
                self.charges.insert(c.charge, rec);
            }
            (Process::Harness, F::Final, Value::Final(s)) => self.finals.push(FinalRec {
                index: ev.index(),
                account: s.account,
                in_flight: s.in_flight.clone(),
                ledger_readable: !matches!(s.ledger, Observed::Error(_)),
                credited: s.credited.clone(),
            }),
            _ => {}
        }
        self.bounds.observe(ev);
    }

    fn interest(&self) -> Interest {
        self.bounds.interest().or(Interest::GATEWAY).or(Interest::HARNESS)
    }

    fn finish(&mut self) -> Verdict {
        let finals = std::mem::take(&mut self.finals);
        let (finals, repeated) =
            super::finals::single(finals, |f| (f.index, f.account), &mut self.findings);
        let credited = self.check_credits(&finals);
        self.check_captures(&finals, &credited, &repeated);
        finals.iter().for_each(|f| self.check_in_flight(f));
        self.bounds.verdict().merge(self.findings.verdict())
    }
}

impl ChargeWithoutCredit {
    /// Every credited id must be a charge on the same account that was not declined;
    /// returns the ids that pass.
    fn check_credits(&mut self, finals: &[FinalRec]) -> FastSet<ChargeId> {
        let mut credited = FastSet::default();
        let mut seen: FastMap<ChargeId, &FinalRec> = FastMap::default();
        for f in finals.iter().filter(|f| f.ledger_readable) {
            for &id in &f.credited {
                if let Some(first) = seen.insert(id, f) {
                    let charge = self.charges.get(&id);
                    self.findings.anomaly(duplicate_credit(first, f, id, charge));
                }
                match self.charges.get(&id) {
                    Some(c) if c.account == f.account && c.kind != OpType::Fail => {
                        credited.insert(id);
                    }
                    charge => self.findings.anomaly(credit_without_charge(f, id, charge)),
                }
            }
        }
        credited
    }

    /// Every capture is credited, unless its account's final states were `repeated`
    /// (already `Unknown`).
    fn check_captures(
        &mut self,
        finals: &[FinalRec],
        credited: &FastSet<ChargeId>,
        repeated: &FastSet<AccountId>,
    ) {
        let finals: FastMap<AccountId, &FinalRec> = finals.iter().map(|f| (f.account, f)).collect();
        let mut captured: Vec<(&ChargeId, &ChargeRec)> = self
            .charges
            .iter()
            .filter(|(id, c)| c.kind == OpType::Ok && !credited.contains(*id))
            .filter(|(_, c)| !repeated.contains(&c.account))
            .collect();
        captured.sort_unstable_by_key(|(_, c)| c.index);
        for (&id, c) in captured {
            match finals.get(&c.account) {
                Some(f) if f.ledger_readable => self.findings.anomaly(Anomaly {
                    kind: AnomalyKind::ChargeWithoutCredit,
                    subject: Subject::Account(c.account),
                    explanation: format!(
                        "the gateway captured {} cents from account {}'s card (charge {id}, op {}), \
                         but the ledger never credited it (final state at op {})",
                        c.amount, c.account, c.index, f.index
                    ),
                    ops: vec![c.index, f.index],
                    magnitude: c.amount,
                }),
                Some(f) => self.findings.unknown(|| {
                    format!("account {}'s ledger could not be read at the end (op {})", c.account, f.index)
                }),
                None => self.findings.unknown(|| {
                    format!("account {} has no final state, so its charges' credits cannot be checked", c.account)
                }),
            }
        }
    }

    fn check_in_flight(&mut self, f: &FinalRec) {
        let (Some(Observed::Balance(b)), Some(sums)) = (&f.in_flight, self.bounds.get(f.account))
        else {
            return;
        };
        let (low, captured) = (sums.low(), sums.captured_cents());
        if captured == 0 || *b >= low {
            return;
        }
        let mut ops = vec![f.index];
        ops.extend(sums.last_capture);
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::ChargeNotInFlight,
            subject: Subject::Account(f.account),
            explanation: format!(
                "account {}'s in-flight balance ends at {b} cents, {} cents below the least it can hold \
                 ({low}), though {captured} cents were captured from its card: captured charges are \
                 missing from the balance store (final state at op {})",
                f.account,
                low.saturating_sub(*b),
                f.index
            ),
            ops,
            magnitude: low.saturating_sub(*b),
        });
    }
}

fn duplicate_credit(
    first: &FinalRec,
    again: &FinalRec,
    id: ChargeId,
    charge: Option<&ChargeRec>,
) -> Anomaly {
    let whom = match first.account == again.account {
        true => format!("twice to account {} (final state at op {})", first.account, first.index),
        false => format!(
            "to account {} (final state at op {}) and to account {} (final state at op {})",
            first.account, first.index, again.account, again.index
        ),
    };
    let mut ops: Vec<u64> = charge.map(|c| c.index).into_iter().collect();
    ops.push(first.index);
    if again.index != first.index {
        ops.push(again.index);
    }
    Anomaly {
        kind: AnomalyKind::DuplicateCredit,
        subject: Subject::Account(again.account),
        explanation: format!("the ledger credits charge {id} {whom}: one charge, two credits"),
        ops,
        magnitude: charge.map_or(0, |c| c.amount),
    }
}

fn credit_without_charge(f: &FinalRec, id: ChargeId, charge: Option<&ChargeRec>) -> Anomaly {
    let why = match charge {
        None => format!("the gateway never saw a charge {id}"),
        Some(c) if c.account != f.account => {
            format!("charge {id} (op {}) was for account {}", c.index, c.account)
        }
        Some(c) => match c.error.as_deref() {
            Some(e) if crate::history::GATEWAY_FAILURES.contains(&e) => {
                format!("the gateway captured nothing for it ({e}, op {})", c.index)
            }
            _ => format!("the gateway declined it (op {})", c.index),
        },
    };
    let mut ops: Vec<u64> = charge.map(|c| c.index).into_iter().collect();
    ops.push(f.index);
    Anomaly {
        kind: AnomalyKind::CreditWithoutCharge,
        subject: Subject::Account(f.account),
        explanation: format!(
            "the ledger credits charge {id} to account {} (final state at op {}), but {why}",
            f.account, f.index
        ),
        ops,
        magnitude: charge.map_or(0, |c| c.amount),
    }
}
