//! *counter*: every read lies within the bounds its increments allow (Jepsen's
//! `checker/counter`).
//!
//! A read r is valid when its value lies in [Σ deltas of adds that completed `ok` before
//! r was invoked, Σ deltas of adds invoked before r completed that had not completed
//! `fail` by then]. Deltas are non-negative; an `info` add counts only in the upper bound.
//! Every sum is checked: one beyond 64 bits makes the verdict `Unknown`, naming the
//! operation, and no read is judged from there on.

use crate::checker::{Checker, Event, Figure, Interest};
use crate::fast::FastMap;
use crate::history::{F, OpType, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks a grow-only counter's reads.
#[derive(Default)]
pub struct Counter {
    lower: i64,
    upper: i64,
    /// The lower bound when each pending read was invoked, by process.
    reads: FastMap<u32, i64>,
    checked: u64,
    /// The operation whose delta took a bound beyond `i64`: nothing is judged after it.
    overflowed: Option<u64>,
    findings: Findings,
}

impl Checker for Counter {
    fn name(&self) -> &'static str {
        "counter"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        let Some(p) = ev.client() else { return };
        if self.overflowed.is_some() || self.step(p, ev).is_some() {
            return;
        }
        let index = ev.index();
        self.overflowed = Some(index);
        self.findings.unknown(|| {
            format!(
                "op {index} takes the counter's bounds beyond what 64 bits hold, so no read is \
                 judged from there on"
            )
        });
    }

    fn interest(&self) -> Interest {
        Interest::CLIENT_INVOKE.or(Interest::CLIENT_COMPLETION)
    }

    fn finish(&mut self) -> Verdict {
        self.findings.verdict()
    }

    fn figures(&self) -> Vec<Figure> {
        vec![Figure::count("reads checked", self.checked)]
    }
}

impl Counter {
    /// Moves the bounds by one operation of process `p`; `None` when a sum overflows.
    fn step(&mut self, p: u32, ev: &Event<'_>) -> Option<()> {
        match (&ev.op.f, ev.kind(), ev.args()) {
            (F::Add, OpType::Invoke, Value::Int(d)) => self.upper = self.upper.checked_add(*d)?,
            (F::Add, OpType::Ok, Value::Int(d)) => self.lower = self.lower.checked_add(*d)?,
            (F::Add, OpType::Fail, Value::Int(d)) => self.upper = self.upper.checked_sub(*d)?,
            (F::Read, OpType::Invoke, _) => {
                self.reads.insert(p, self.lower);
            }
            (F::Read, kind, _) => {
                let low = self.reads.remove(&p);
                if let (OpType::Ok, Some(low), Value::Int(v)) = (kind, low, &ev.op.value) {
                    self.check(ev, low, *v);
                }
            }
            _ => {}
        }
        Some(())
    }

    fn check(&mut self, ev: &Event<'_>, low: i64, value: i64) {
        self.checked += 1;
        let high = self.upper;
        if (low..=high).contains(&value) {
            return;
        }
        let (invoked, index) = (ev.invoke_index(), ev.index());
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::CounterOutOfBounds,
            subject: Subject::Counter,
            explanation: format!(
                "op {index} read the counter as {value}, outside the {low} to {high} its adds allow \
                 (adds ok before the read began at op {invoked}: {low}; adds attempted and not failed \
                 by its end: {high})"
            ),
            ops: vec![invoked, index],
            magnitude: low.saturating_sub(value).max(value.saturating_sub(high)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn reads_within_ok_and_attempted_adds_are_valid() {
        let h = history(vec![
            invoke(1, int(F::Add, 2)),
            ok(1, int(F::Add, 2)),
            invoke(2, int(F::Add, 3)),
            invoke(1, nil(F::Read)),
            ok(1, int(F::Read, 5)),
            info(2, int(F::Add, 3)),
            invoke(3, nil(F::Read)),
            ok(3, int(F::Read, 2)),
        ]);
        assert_eq!(verdict(Counter::default(), &h), Verdict::Valid);
    }

    #[test]
    fn a_read_above_every_attempted_add_is_found() {
        let h = history(vec![
            invoke(1, int(F::Add, 2)),
            fail(1, int(F::Add, 2)),
            invoke(2, nil(F::Read)),
            ok(2, int(F::Read, 2)),
        ]);
        let anomaly = Anomaly {
            kind: AnomalyKind::CounterOutOfBounds,
            subject: Subject::Counter,
            explanation:
                "op 3 read the counter as 2, outside the 0 to 0 its adds allow (adds ok before \
                          the read began at op 2: 0; adds attempted and not failed by its end: 0)"
                    .into(),
            ops: vec![2, 3],
            magnitude: 2,
        };
        assert_eq!(verdict(Counter::default(), &h), invalid(vec![anomaly]));
    }

    #[test]
    fn a_read_below_acknowledged_adds_is_found() {
        let h = history(vec![
            invoke(1, int(F::Add, 4)),
            ok(1, int(F::Add, 4)),
            invoke(2, nil(F::Read)),
            ok(2, int(F::Read, 1)),
        ]);
        let anomaly = Anomaly {
            kind: AnomalyKind::CounterOutOfBounds,
            subject: Subject::Counter,
            explanation:
                "op 3 read the counter as 1, outside the 4 to 4 its adds allow (adds ok before \
                          the read began at op 2: 4; adds attempted and not failed by its end: 4)"
                    .into(),
            ops: vec![2, 3],
            magnitude: 3,
        };
        assert_eq!(verdict(Counter::default(), &h), invalid(vec![anomaly]));
    }

    #[test]
    fn adds_beyond_64_bits_are_unknown_never_a_wrapped_bound() {
        let h = history(vec![
            invoke(1, int(F::Add, i64::MAX)),
            ok(1, int(F::Add, i64::MAX)),
            invoke(2, int(F::Add, 1)),
            invoke(3, nil(F::Read)),
            ok(3, int(F::Read, 5)),
        ]);
        let reason = "op 2 takes the counter's bounds beyond what 64 bits hold, so no read is \
                      judged from there on";
        assert_eq!(verdict(Counter::default(), &h), Verdict::Unknown(reason.into()));
    }
}
