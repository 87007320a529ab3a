//! *recovery*: whether each kind of client operation succeeded again once the faults
//! healed (liveness).
//!
//! The harness records a `phase` operation (`{"phase":"recovery"}`) when every fault
//! has healed and the clients run again with no fault. From then on, for each `f` the
//! clients performed in the run, the checker counts the operations invoked after the
//! phase began and when the first of them completed `ok`: `debit ok again after (ns)`
//! is the time from the phase's start to that completion. An operation invoked before
//! the phase does not count, even if it completes after: it was decided while faults
//! could still act on it.
//!
//! The system *answered* an operation when it completed `ok` or `fail`: a definite
//! refusal (a debit on a justly suspended account) is an answer, not a sign of a broken
//! system.
//!
//! - no recovery phase: valid, with nothing to report (the run had none);
//! - every `f` attempted in the recovery phase was answered at least once: valid;
//! - some `f` attempted in the recovery phase was never answered there (every one
//!   ended `info` or never completed): invalid, one `not-recovered` anomaly per such
//!   `f`: the system stayed broken after the heal.
//!
//! The figures still say, per `f`, how many were attempted, succeeded (`ok`) and were
//! refused (`fail`) in recovery, and when the first succeeded.
//!
//! It speaks to liveness: reported as its own row, never in the exit code.

use crate::checker::{Checker, Concern, Event, Figure, Interest};
use crate::history::{F, OpType, PhaseName, Process, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Whether and when each `f` succeeded again in the recovery phase.
#[derive(Default)]
pub struct Recovery {
    /// The recovery phase's index and time, once it began.
    began: Option<(u64, u64)>,
    by_f: Vec<(F, Tally)>,
    findings: Findings,
}

/// One `f`'s operations invoked in the recovery phase.
#[derive(Clone, Copy, Default)]
struct Tally {
    attempts: u64,
    ok: u64,
    fail: u64,
    info: u64,
    first: Option<u64>,
    /// Nanoseconds from the phase's start to the first `ok` completion.
    ok_after: Option<u64>,
}

impl Recovery {
    fn tally(&mut self, f: &F) -> &mut Tally {
        let at = match self.by_f.iter().position(|(g, _)| g == f) {
            Some(at) => at,
            None => {
                self.by_f.push((f.clone(), Tally::default()));
                self.by_f.len() - 1
            }
        };
        &mut self.by_f[at].1
    }

    /// Before the recovery phase: only which `f`s the clients perform.
    fn seen(&mut self, f: &F) {
        if !self.by_f.iter().any(|(g, _)| g == f) {
            self.by_f.push((f.clone(), Tally::default()));
        }
    }

    /// In the recovery phase, which began at `began` (index, time).
    fn client(&mut self, ev: &Event<'_>, (index, start): (u64, u64)) {
        let counts = ev.invoke_index() > index;
        let tally = self.tally(&ev.op.f);
        if !counts {
            return;
        }
        match ev.kind() {
            OpType::Invoke => {
                tally.attempts += 1;
                tally.first.get_or_insert(ev.index());
            }
            OpType::Ok => {
                tally.ok += 1;
                tally.ok_after.get_or_insert(ev.op.time.saturating_sub(start));
            }
            OpType::Fail => tally.fail += 1,
            OpType::Info => tally.info += 1,
        }
    }
}

impl Checker for Recovery {
    fn name(&self) -> &'static str {
        "recovery"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.value) {
            (Process::Client(_), _) => match self.began {
                None if ev.kind() == OpType::Invoke => {}
                None => self.seen(&ev.op.f),
                Some(began) => self.client(ev, began),
            },
            (Process::Harness, Value::Phase(p))
                if p.phase == PhaseName::Recovery && ev.op.f == F::Phase =>
            {
                self.began.get_or_insert((ev.index(), ev.op.time));
            }
            _ => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::CLIENT_INVOKE.or(Interest::CLIENT_COMPLETION).or(Interest::HARNESS)
    }

    fn concern(&self) -> Concern {
        Concern::Liveness
    }

    fn finish(&mut self) -> Verdict {
        let unanswered = |t: &Tally| t.attempts > 0 && t.ok == 0 && t.fail == 0;
        for (f, t) in self.by_f.iter().filter(|(_, t)| unanswered(t)) {
            let first = t.first.unwrap_or_default();
            self.findings.anomaly(Anomaly {
                kind: AnomalyKind::NotRecovered,
                subject: Subject::F(f.to_string()),
                explanation: format!(
                    "the system answered no {f} after the faults healed: of {} invoked in the \
                     recovery phase (the first at op {first}), {} ended indeterminate and {} \
                     never completed",
                    t.attempts,
                    t.info,
                    t.attempts - t.info
                ),
                ops: vec![first],
                magnitude: t.attempts as i64,
            });
        }
        self.findings.verdict()
    }

    fn figures(&self) -> Vec<Figure> {
        if self.began.is_none() {
            return Vec::new();
        }
        let mut figures = Vec::new();
        for (f, t) in &self.by_f {
            figures.push(Figure::count(format!("{f} attempts in recovery"), t.attempts));
            figures.push(Figure::count(format!("{f} ok in recovery"), t.ok));
            figures.push(Figure::count(format!("{f} refused in recovery"), t.fail));
            if let Some(ns) = t.ok_after {
                figures.push(Figure::count(format!("{f} ok again after (ns)"), ns));
            }
        }
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Phase};
    use crate::testkit::*;

    fn recovery() -> Op {
        let phase = Value::Phase(Phase { phase: PhaseName::Recovery });
        Op {
            index: 0,
            time: 0,
            process: Process::Harness,
            kind: OpType::Ok,
            f: F::Phase,
            value: phase,
            error: None,
        }
    }

    #[test]
    fn each_f_reports_when_it_succeeded_again_after_the_recovery_phase_began() {
        let h = history(vec![
            invoke(1, debit(7, 5)),
            fail(1, debit(7, 5)),
            invoke(2, payment(7, 5)),
            recovery(),           // op 3, at 3 µs
            ok(2, payment(7, 5)), // invoked before the phase: does not count
            invoke(1, debit(7, 5)),
            fail(1, debit(7, 5)),
            invoke(1, debit(7, 5)),
            ok(1, debit(7, 5)), // op 8, at 8 µs
            invoke(2, payment(7, 5)),
            ok(2, payment(7, 5)), // op 10, at 10 µs
        ]);
        assert_eq!(verdict(Recovery::default(), &h), Verdict::Valid);
        assert_eq!(
            figures(Recovery::default(), &h),
            [
                "debit attempts in recovery 2",
                "debit ok in recovery 1",
                "debit refused in recovery 1",
                "debit ok again after (ns) 5000",
                "payment attempts in recovery 1",
                "payment ok in recovery 1",
                "payment refused in recovery 0",
                "payment ok again after (ns) 7000",
            ]
        );
    }

    #[test]
    fn an_f_the_system_never_answered_in_recovery_is_found() {
        let h = history(vec![
            invoke(1, debit(7, 5)),
            ok(1, debit(7, 5)),
            recovery(),
            invoke(1, debit(7, 5)),
            info(1, debit(7, 5)),
            invoke(2, debit(7, 5)),
        ]);
        let anomaly = Anomaly {
            kind: AnomalyKind::NotRecovered,
            subject: Subject::F("debit".into()),
            explanation: "the system answered no debit after the faults healed: of 2 invoked in \
                          the recovery phase (the first at op 3), 1 ended indeterminate and 1 \
                          never completed"
                .into(),
            ops: vec![3],
            magnitude: 2,
        };
        assert_eq!(verdict(Recovery::default(), &h), invalid(vec![anomaly]));
        assert_eq!(Recovery::default().concern(), Concern::Liveness);
    }

    #[test]
    fn debits_refused_in_recovery_are_answers_not_a_broken_system() {
        let h = history(vec![
            invoke(1, debit(7, 5)),
            ok(1, debit(7, 5)),
            recovery(),
            invoke(1, debit(7, 5)),
            fail(1, debit(7, 5)),
            invoke(2, debit(7, 5)),
            fail(2, debit(7, 5)),
        ]);
        assert_eq!(verdict(Recovery::default(), &h), Verdict::Valid);
        assert_eq!(
            figures(Recovery::default(), &h),
            [
                "debit attempts in recovery 2",
                "debit ok in recovery 0",
                "debit refused in recovery 2"
            ]
        );
    }

    #[test]
    fn a_history_without_a_recovery_phase_is_valid_and_says_nothing() {
        let h = history(vec![invoke(1, debit(7, 5)), fail(1, debit(7, 5))]);
        assert_eq!(verdict(Recovery::default(), &h), Verdict::Valid);
        assert!(figures(Recovery::default(), &h).is_empty());
    }
}
