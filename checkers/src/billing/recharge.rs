//! *over-charge*: one capture per idempotency key and per client operation and account, and no
//! capture while the balance could not have been below the recharge threshold.

use super::shared::{BoundsView, SharedBounds};
use crate::checker::{Checker, Event, Interest};
use crate::fast::FastMap;
use crate::history::{AccountId, Charge, ChargeAnswer, ChargeId, F, OpType, Process, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks that every capture answers a recharge need, once.
#[derive(Default)]
pub struct OverCharge {
    bounds: BoundsView,
    keys: FastMap<String, (u64, ChargeId)>,
    /// The first capture attributed to each client operation, per account, with what
    /// its caller was told.
    ops: FastMap<(u64, AccountId), (u64, ChargeId, Option<ChargeAnswer>)>,
    findings: Findings,
}

impl OverCharge {
    /// A checker reading a suite's shared bounds.
    pub(crate) fn sharing(bounds: &SharedBounds) -> OverCharge {
        OverCharge { bounds: bounds.view(), ..OverCharge::default() }
    }
}

impl Checker for OverCharge {
    fn name(&self) -> &'static str {
        "over-charge"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        if let (Process::Gateway, F::Charge, OpType::Ok, Value::Charge(c)) =
            (ev.op.process, &ev.op.f, ev.kind(), &ev.op.value)
        {
            self.check_key(ev.index(), c);
            self.check_op(ev.index(), c);
            self.check_need(ev.index(), c);
        }
        self.bounds.observe(ev);
    }

    fn interest(&self) -> Interest {
        self.bounds.interest().or(Interest::GATEWAY)
    }

    fn finish(&mut self) -> Verdict {
        self.bounds.verdict().merge(self.findings.verdict())
    }
}

impl OverCharge {
    fn check_key(&mut self, index: u64, c: &Charge) {
        let Some(key) = &c.key else { return };
        let Some(&(first, first_id)) = self.keys.get(key) else {
            self.keys.insert(key.clone(), (index, c.charge));
            return;
        };
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::DuplicateRecharge,
            subject: Subject::Key(key.clone()),
            explanation: format!(
                "op {index}: the gateway captured {} cents from account {}'s card (charge {}) with \
                 idempotency key {key:?}, already captured by charge {first_id} at op {first}",
                c.amount, c.account, c.charge
            ),
            ops: vec![first, index],
            magnitude: c.amount,
        });
    }

    /// At most one capture per client operation and account: a second capture on the
    /// account for the operation is a second charge for one need, whatever keys the
    /// system sent. (An operation may recharge other accounts, draining a queue.)
    fn check_op(&mut self, index: u64, c: &Charge) {
        let Some(op) = c.op else { return };
        let Some(&(first, first_id, answer)) = self.ops.get(&(op, c.account)) else {
            self.ops.insert((op, c.account), (index, c.charge, c.answer));
            return;
        };
        let told = match answer {
            Some(ChargeAnswer::Lost) => {
                " (whose answer never reached the system: it charged again instead of asking \
                 the gateway what became of the first)"
            }
            Some(ChargeAnswer::Error) => {
                " (answered with an error although captured: it charged again instead of \
                 asking the gateway what became of the first)"
            }
            _ => "",
        };
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::DuplicateRecharge,
            subject: Subject::Account(c.account),
            explanation: format!(
                "op {index}: the gateway captured {} cents from account {}'s card (charge {}) for \
                 client operation {op}, for which it already captured charge {first_id} at op \
                 {first}{told}: one recharge per operation and account",
                c.amount, c.account, c.charge
            ),
            ops: vec![first, index, op],
            magnitude: c.amount,
        });
    }

    /// W at the capture, not counting the capture itself, must be below T.
    fn check_need(&mut self, index: u64, c: &Charge) {
        let Some((window, threshold, last)) = self
            .bounds
            .with(c.account, |s| (s.decision_window(c.op), s.threshold(), s.last_capture))
        else {
            return;
        };
        let low = window.low;
        if low < threshold {
            return;
        }
        let previous = match last {
            Some(p) => format!("; the capture before it was op {p}"),
            None => String::new(),
        };
        let mut ops = vec![index];
        ops.extend(last);
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::OverCharge,
            subject: Subject::Account(c.account),
            explanation: format!(
                "op {index}: the gateway captured {} cents from account {}'s card (charge {}) although \
                 its balance was at least {low} cents since op {}, never below the {threshold}-cent \
                 recharge threshold{previous}",
                c.amount, c.account, c.charge, window.since
            ),
            ops,
            magnitude: low.saturating_sub(threshold),
        });
    }
}
