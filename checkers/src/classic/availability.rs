//! *availability*: how often client operations succeed inside and outside fault
//! windows.
//!
//! A fault window runs from a nemesis `start` invocation to the completion of the `heal`
//! with the same fault id. A client operation is *inside* when some window overlaps it:
//! one is open at its completion, or one closed after its invocation. Otherwise it is
//! *outside*. The checker reports the `ok` fraction per `f` inside and outside. It is
//! not met (invalid) only when a minimum is set and some `f`'s fraction outside faults
//! falls below it. It speaks to liveness: reported as its own row, never in the exit
//! code.

use crate::checker::{Checker, Concern, Event, Figure, Interest};
use crate::history::{F, OpType, Process, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Measures availability inside and outside fault windows.
#[derive(Default)]
pub struct Availability {
    minimum: Option<f64>,
    open: Vec<u32>,
    /// The index of the last heal completion that closed a window.
    last_close: Option<u64>,
    by_f: Vec<(F, Tally)>,
    findings: Findings,
}

#[derive(Clone, Copy, Default)]
struct Tally {
    inside: (u64, u64),
    outside: (u64, u64),
    first_outside_failure: Option<u64>,
}

impl Availability {
    /// An availability checker, invalid when an `f`'s ok fraction outside fault windows
    /// falls below `minimum` (`None`: report figures only).
    pub fn new(minimum: Option<f64>) -> Availability {
        Availability { minimum, ..Availability::default() }
    }
}

impl Checker for Availability {
    fn name(&self) -> &'static str {
        "availability"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.f, ev.kind(), &ev.op.value) {
            (Process::Nemesis, F::Start, OpType::Invoke, Value::Fault(fault)) => {
                self.open.push(fault.id)
            }
            (Process::Nemesis, F::Heal, kind, Value::Fault(fault))
                if kind != OpType::Invoke && self.open.contains(&fault.id) =>
            {
                self.open.retain(|&id| id != fault.id);
                self.last_close = Some(ev.index());
            }
            (Process::Client(_), f, kind, _) if kind != OpType::Invoke => {
                let inside =
                    !self.open.is_empty() || self.last_close.is_some_and(|c| c > ev.invoke_index());
                self.complete(f, kind, ev.index(), inside);
            }
            _ => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::NEMESIS.or(Interest::CLIENT_COMPLETION)
    }

    fn concern(&self) -> Concern {
        Concern::Liveness
    }

    fn finish(&mut self) -> Verdict {
        let Some(minimum) = self.minimum else { return Verdict::Valid };
        for (f, t) in &self.by_f {
            let (ok, total) = t.outside;
            if total == 0 || ok as f64 / total as f64 >= minimum {
                continue;
            }
            self.findings.anomaly(Anomaly {
                kind: AnomalyKind::LowAvailability,
                subject: Subject::F(f.to_string()),
                explanation: format!(
                    "only {ok} of {total} {f} operations outside fault windows succeeded ({:.1}%), below \
                     the required {:.1}%",
                    ok as f64 * 100.0 / total as f64,
                    minimum * 100.0
                ),
                ops: t.first_outside_failure.into_iter().collect(),
                magnitude: ((minimum - ok as f64 / total as f64) * 10_000.0) as i64,
            });
        }
        self.findings.verdict()
    }

    fn figures(&self) -> Vec<Figure> {
        let mut figures = Vec::new();
        for (f, t) in &self.by_f {
            figures.extend(Figure::fraction(
                format!("{f} ok outside faults"),
                t.outside.0,
                t.outside.1,
            ));
            figures.extend(Figure::fraction(
                format!("{f} ok inside faults"),
                t.inside.0,
                t.inside.1,
            ));
        }
        figures
    }
}

impl Availability {
    fn complete(&mut self, f: &F, kind: OpType, index: u64, inside: bool) {
        let tally = match self.by_f.iter_mut().find(|(g, _)| g == f) {
            Some((_, t)) => t,
            None => {
                self.by_f.push((f.clone(), Tally::default()));
                &mut self.by_f.last_mut().expect("just pushed").1
            }
        };
        let ok = u64::from(kind == OpType::Ok);
        let counts = if inside { &mut tally.inside } else { &mut tally.outside };
        *counts = (counts.0 + ok, counts.1 + 1);
        if !inside && ok == 0 {
            tally.first_outside_failure.get_or_insert(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpType::{Info, Invoke};
    use crate::testkit::*;

    fn h() -> crate::history::History {
        history(vec![
            invoke(1, debit(7, 1)),
            ok(1, debit(7, 1)),
            invoke(1, debit(7, 1)),
            nemesis(Invoke, F::Start, 1),
            nemesis(Info, F::Start, 1),
            fail(1, debit(7, 1)),
            nemesis(Invoke, F::Heal, 1),
            nemesis(Info, F::Heal, 1),
            invoke(1, debit(7, 1)),
            fail(1, debit(7, 1)),
        ])
    }

    #[test]
    fn operations_overlapping_a_fault_window_count_inside_it() {
        let figures = figures(Availability::new(None), &h());
        assert_eq!(figures, ["debit ok outside faults 0.5", "debit ok inside faults 0"]);
    }

    #[test]
    fn availability_below_the_minimum_outside_faults_is_found() {
        assert_eq!(verdict(Availability::new(None), &h()), Verdict::Valid);
        assert_eq!(verdict(Availability::new(Some(0.5)), &h()), Verdict::Valid);
        let anomaly = Anomaly {
            kind: AnomalyKind::LowAvailability,
            subject: Subject::F("debit".into()),
            explanation:
                "only 1 of 2 debit operations outside fault windows succeeded (50.0%), below the \
                          required 90.0%"
                    .into(),
            ops: vec![9],
            magnitude: 4000,
        };
        assert_eq!(verdict(Availability::new(Some(0.9)), &h()), invalid(vec![anomaly]));
    }
}
