//! *stats*: how client operations ended, per `f` (Jepsen's `checker/stats`).
//!
//! Counts `ok`, `fail` and `info` completions of client operations per `f`. Not met
//! (invalid) when some `f` was attempted and never succeeded: a system that cannot do
//! one of its operations at all is not working, though it broke no promise about money.
//! It speaks to liveness: reported as its own row, never in the exit code.

use crate::checker::{Checker, Concern, Event, Figure, Interest};
use crate::history::{F, OpType};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Counts completions per `f`.
#[derive(Default)]
pub struct Stats {
    by_f: Vec<(F, Counts)>,
    findings: Findings,
}

#[derive(Clone, Copy)]
struct Counts {
    ok: u64,
    fail: u64,
    info: u64,
    first: u64,
}

impl Checker for Stats {
    fn name(&self) -> &'static str {
        "stats"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        if ev.client().is_none() || ev.kind() == OpType::Invoke {
            return;
        }
        let counts = match self.by_f.iter_mut().find(|(f, _)| *f == ev.op.f) {
            Some((_, c)) => c,
            None => {
                self.by_f
                    .push((ev.op.f.clone(), Counts { ok: 0, fail: 0, info: 0, first: ev.index() }));
                &mut self.by_f.last_mut().expect("just pushed").1
            }
        };
        match ev.kind() {
            OpType::Ok => counts.ok += 1,
            OpType::Fail => counts.fail += 1,
            _ => counts.info += 1,
        }
    }

    fn interest(&self) -> Interest {
        Interest::CLIENT_COMPLETION
    }

    fn concern(&self) -> Concern {
        Concern::Liveness
    }

    fn finish(&mut self) -> Verdict {
        for (f, c) in self.by_f.iter().filter(|(_, c)| c.ok == 0) {
            self.findings.anomaly(Anomaly {
                kind: AnomalyKind::NeverSucceeded,
                subject: Subject::F(f.to_string()),
                explanation: format!(
                    "no {f} ever succeeded: {} failed and {} ended indeterminate (the first at op {})",
                    c.fail, c.info, c.first
                ),
                ops: vec![c.first],
                magnitude: (c.fail + c.info) as i64,
            });
        }
        self.findings.verdict()
    }

    fn figures(&self) -> Vec<Figure> {
        let mut figures = Vec::new();
        for (f, c) in &self.by_f {
            figures.push(Figure::count(format!("{f} ok"), c.ok));
            figures.push(Figure::count(format!("{f} fail"), c.fail));
            figures.push(Figure::count(format!("{f} info"), c.info));
        }
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn an_operation_that_never_succeeds_is_found_and_counts_are_reported() {
        let h = history(vec![
            invoke(1, debit(7, 1)),
            ok(1, debit(7, 1)),
            invoke(1, payment(7, 5)),
            fail(1, payment(7, 5)),
            invoke(1, payment(7, 5)),
            info(1, payment(7, 5)),
        ]);
        let anomaly = Anomaly {
            kind: AnomalyKind::NeverSucceeded,
            subject: Subject::F("payment".into()),
            explanation:
                "no payment ever succeeded: 1 failed and 1 ended indeterminate (the first at op 3)"
                    .into(),
            ops: vec![3],
            magnitude: 2,
        };
        assert_eq!(verdict(Stats::default(), &h), invalid(vec![anomaly]));
        let names = figures(Stats::default(), &h);
        assert_eq!(
            names,
            [
                "debit ok 1",
                "debit fail 0",
                "debit info 0",
                "payment ok 0",
                "payment fail 1",
                "payment info 1"
            ]
        );
    }
}
