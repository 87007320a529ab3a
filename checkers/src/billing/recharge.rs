//! *over-charge*: no two captures for one idempotency key, and no capture while the
//! balance could not have been below the recharge threshold.

use super::shared::{BoundsView, SharedBounds};
use crate::checker::{Checker, Event, Interest};
use crate::fast::FastMap;
use crate::history::{Charge, ChargeId, F, OpType, Process, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks that every capture answers a recharge need, once.
#[derive(Default)]
pub struct OverCharge {
    bounds: BoundsView,
    keys: FastMap<String, (u64, ChargeId)>,
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

    /// W at the capture, not counting the capture itself, must be below T.
    fn check_need(&mut self, index: u64, c: &Charge) {
        let Some(sums) = self.bounds.get(c.account) else { return };
        let (window, threshold) = (sums.window(), sums.threshold());
        let low = window.low;
        if low < threshold {
            return;
        }
        let since = window.since.map_or(String::new(), |op| format!(" since op {op}"));
        let previous = match sums.last_capture {
            Some(p) => format!("; the capture before it was op {p}"),
            None => String::new(),
        };
        let mut ops = vec![index];
        ops.extend(sums.last_capture);
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::OverCharge,
            subject: Subject::Account(c.account),
            explanation: format!(
                "op {index}: the gateway captured {} cents from account {}'s card (charge {}) although \
                 its balance was at least {low} cents{since}, never below the {threshold}-cent \
                 recharge threshold{previous}",
                c.amount, c.account, c.charge
            ),
            ops,
            magnitude: low - threshold,
        });
    }
}
