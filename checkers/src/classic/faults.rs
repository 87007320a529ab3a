//! *faults*: whether the run's faults happened as scheduled and took effect
//! (reachability).
//!
//! **Schedule.** The header's `schedule` (see [`schedule`](super::schedule)) lists every
//! fault the scenario scripted. Each must have started: a nemesis `start` invocation
//! naming its `step`, then a completion of that fault id that carries no error and
//! names the schedule's fault. A scheduled fault that never started, whose start never
//! completed, failed, or performed another fault, makes the run unknown, naming the
//! step, the fault and when it was due: the run did not test what it meant to.
//!
//! **Effect.** The nemesis records, on a fault's start or heal completion, whether it
//! observed the fault's intended effect (`observed`: a partition that cut the links, a
//! bad restart that lost the data, a resync storm whose replicas resynced in full — the
//! last judged only at the heal). A fault's latest judgement stands. A run whose faults
//! never took effect has not tested what it meant to, whatever the other checkers say:
//!
//! - at least one fault took effect: valid, with how many did and did not as figures
//!   (the report lists which);
//! - faults judged and none took effect: unknown, naming them;
//! - no fault judged: unknown when the schedule is not empty (nothing shows that the
//!   faults it scripted did anything), valid with nothing to report when there is no
//!   schedule (a run without scripted faults, or a history from a driver that records
//!   none).
//!
//! A fault whose completions say nothing about its effect counts as neither; so does a
//! heal that no start opened (the final heal-all).

use super::schedule::ScheduledFault;
use crate::checker::{Checker, Event, Figure, Interest};
use crate::history::{F, FaultEvent, OpType, Value};
use crate::verdict::Verdict;
use std::collections::BTreeMap;

/// Every started fault by id: its name, the operation that last judged it and that
/// judgement (whether the effect was observed), if any; and how each scheduled step
/// started.
#[derive(Default)]
pub struct Faults {
    started: BTreeMap<u32, (String, u64, Option<bool>)>,
    schedule: Vec<ScheduledFault>,
    /// Each scheduled step invoked, by step.
    steps: BTreeMap<u32, Step>,
}

/// A scheduled step's start: the fault id performing it, its invocation, and its
/// completion once recorded: the fault it named, or why it failed.
struct Step {
    id: u32,
    invoked: u64,
    done: Option<Result<(u64, String), String>>,
}

impl Faults {
    /// A faults checker holding the run to this schedule (empty: no scripted faults).
    pub fn new(schedule: Vec<ScheduledFault>) -> Faults {
        Faults { schedule, ..Faults::default() }
    }

    fn count(&self, observed: bool) -> u64 {
        self.started.values().filter(|(_, _, seen)| *seen == Some(observed)).count() as u64
    }

    fn judged(&self) -> impl Iterator<Item = &(String, u64, Option<bool>)> {
        self.started.values().filter(|(_, _, seen)| seen.is_some())
    }

    fn start(&mut self, ev: &Event<'_>, fault: &FaultEvent) {
        if ev.kind() == OpType::Invoke {
            self.started.insert(fault.id, (fault.fault.clone(), ev.index(), None));
            if let Some(step) = fault.step {
                self.steps.insert(step, Step { id: fault.id, invoked: ev.index(), done: None });
            }
            return;
        }
        let done = match (ev.kind(), ev.op.error.as_deref()) {
            (OpType::Fail, None) => Err(format!("op {}: failed", ev.index())),
            (_, Some(error)) => Err(format!("op {}: {error}", ev.index())),
            _ => Ok((ev.index(), fault.fault.clone())),
        };
        for step in self.steps.values_mut().filter(|s| s.id == fault.id && s.done.is_none()) {
            step.done = Some(done.clone());
        }
    }

    /// Why the schedule was not carried out, one reason per scheduled fault.
    fn schedule_problems(&self) -> Vec<String> {
        let problem = |s: &ScheduledFault| {
            let Some(step) = self.steps.get(&s.step) else {
                return Some(format!("{} never started", s.describe()));
            };
            match &step.done {
                None => Some(format!(
                    "{} was invoked (op {}) but its start never completed",
                    s.describe(),
                    step.invoked
                )),
                Some(Err(why)) => Some(format!("{} failed to start ({why})", s.describe())),
                Some(Ok((at, name))) if *name != s.fault => {
                    Some(format!("{} started {name} instead (op {at})", s.describe()))
                }
                Some(Ok(_)) => None,
            }
        };
        self.schedule.iter().filter_map(problem).collect()
    }

    /// Why no fault is known to have taken effect, if none is; a schedule carried out
    /// (`kept`) with no fault judged is a problem of its own.
    fn effect_problem(&self, kept: bool) -> Option<String> {
        if self.count(true) > 0 {
            return None;
        }
        let names: Vec<String> =
            self.judged().map(|(name, index, _)| format!("{name} (op {index})")).collect();
        if names.is_empty() {
            return (kept && !self.schedule.is_empty()).then(|| {
                format!(
                    "none of the {} scheduled faults was judged to take effect",
                    self.schedule.len()
                )
            });
        }
        Some(format!("none of the {} faults took effect: {}", names.len(), names.join(", ")))
    }
}

impl Checker for Faults {
    fn name(&self) -> &'static str {
        "faults"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        let (F::Start | F::Heal, Value::Fault(fault)) = (&ev.op.f, &ev.op.value) else {
            return;
        };
        if ev.op.f == F::Start {
            self.start(ev, fault);
        }
        if ev.kind() == OpType::Invoke {
            return;
        }
        if let (Some(seen), Some(entry)) = (fault.observed, self.started.get_mut(&fault.id)) {
            (entry.1, entry.2) = (ev.index(), Some(seen));
        }
    }

    fn interest(&self) -> Interest {
        Interest::NEMESIS
    }

    fn finish(&mut self) -> Verdict {
        let mut problems = self.schedule_problems();
        problems.extend(self.effect_problem(problems.is_empty()));
        match problems.is_empty() {
            true => Verdict::Valid,
            false => Verdict::Unknown(format!(
                "{}: the run did not test what it meant to",
                problems.join("; ")
            )),
        }
    }

    fn figures(&self) -> Vec<Figure> {
        let mut figures = Vec::new();
        if !self.schedule.is_empty() {
            let problems = self.schedule_problems().len() as u64;
            figures.push(Figure::count("scheduled", self.schedule.len() as u64));
            figures
                .push(Figure::count("started as scheduled", self.schedule.len() as u64 - problems));
        }
        if self.judged().next().is_some() {
            figures.push(Figure::count("took effect", self.count(true)));
            figures.push(Figure::count("without effect", self.count(false)));
        }
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::InFlight;
    use crate::fast::FastMap;
    use crate::history::{FaultEvent, Op, Process};

    /// Feeds one fault's start or heal, invocation and completion (judged `seen`).
    fn feed(checker: &mut Faults, id: u32, f: F, seen: Option<bool>, index: u64) {
        let none = FastMap::default();
        for kind in [OpType::Invoke, OpType::Info] {
            let event = FaultEvent {
                id,
                fault: "kill".into(),
                targets: vec!["redis-0".into()],
                effect: None,
                observed: if kind == OpType::Info { seen } else { None },
                step: None,
            };
            let op = Op {
                index: index + u64::from(kind == OpType::Info),
                time: 0,
                process: Process::Nemesis,
                kind,
                f: f.clone(),
                value: Value::Fault(event),
                error: None,
            };
            checker.observe(&Event { op: &op, invocation: None, in_flight: InFlight(&none) });
        }
    }

    /// Faults judged at their start, one after another.
    fn verdict(observed: &[Option<bool>]) -> (Verdict, Vec<Figure>) {
        let mut checker = Faults::default();
        for (i, seen) in observed.iter().enumerate() {
            feed(&mut checker, i as u32, F::Start, *seen, 2 * i as u64);
        }
        (checker.finish(), checker.figures())
    }

    #[test]
    fn a_judgement_at_the_heal_counts_and_overrides_the_start() {
        let mut checker = Faults::default();
        feed(&mut checker, 1, F::Start, None, 0);
        feed(&mut checker, 2, F::Start, Some(true), 2);
        feed(&mut checker, 1, F::Heal, Some(false), 4);
        feed(&mut checker, 2, F::Heal, Some(false), 6);
        assert_eq!(
            checker.finish(),
            Verdict::Unknown(
                "none of the 2 faults took effect: kill (op 5), kill (op 7): the run did not test what it meant to"
                    .into()
            )
        );
        let mut checker = Faults::default();
        feed(&mut checker, 1, F::Start, None, 0);
        feed(&mut checker, 1, F::Heal, Some(true), 2);
        feed(&mut checker, 2, F::Heal, Some(true), 4); // heal-all: no start, not a fault
        assert_eq!(checker.finish(), Verdict::Valid);
        assert_eq!(
            checker.figures(),
            vec![Figure::count("took effect", 1), Figure::count("without effect", 0)]
        );
    }

    #[test]
    fn a_run_without_faults_is_valid_and_says_nothing() {
        assert_eq!(verdict(&[]), (Verdict::Valid, vec![]));
    }

    #[test]
    fn one_fault_that_took_effect_is_enough() {
        let (v, figures) = verdict(&[Some(false), Some(true)]);
        assert_eq!(v, Verdict::Valid);
        assert_eq!(
            figures,
            vec![Figure::count("took effect", 1), Figure::count("without effect", 1)]
        );
    }

    #[test]
    fn faults_that_never_took_effect_make_the_run_unknown() {
        let (v, _) = verdict(&[Some(false), None, Some(false)]);
        assert_eq!(
            v,
            Verdict::Unknown(
                "none of the 2 faults took effect: kill (op 1), kill (op 5): the run did not test what it meant to"
                    .into()
            )
        );
    }

    use crate::history::OpType::{Info, Invoke};
    use crate::testkit::{self, debit, history, invoke, ok};

    /// A nemesis operation on fault `id` performing scheduled `step` of `fault`.
    fn scheduled(kind: OpType, f: F, id: u32, step: u32, fault: &str, seen: Option<bool>) -> Op {
        let mut op = testkit::nemesis(kind, f, id);
        if let Value::Fault(event) = &mut op.value {
            event.fault = fault.into();
            event.step = (op.kind == Invoke).then_some(step);
            event.observed = seen;
        }
        op
    }

    fn due(step: u32, fault: &str, at: u64) -> ScheduledFault {
        ScheduledFault { step, fault: fault.into(), at, duration: Some(20_000_000_000) }
    }

    fn twilio() -> Faults {
        Faults::new(vec![due(0, "restart-2013", 15_000_000_000)])
    }

    #[test]
    fn a_scheduled_fault_that_never_started_makes_the_run_unknown_naming_it() {
        // The clients stopped at 4 s, before the restart due at 15 s.
        let h = history(vec![invoke(1, debit(7, 5)), ok(1, debit(7, 5))]);
        let reason = "scheduled fault 0 (restart-2013 at 15s) never started: the run did not \
                      test what it meant to";
        assert_eq!(testkit::verdict(twilio(), &h), Verdict::Unknown(reason.into()));
        assert_eq!(testkit::figures(twilio(), &h), ["scheduled 1", "started as scheduled 0"]);
    }

    #[test]
    fn a_scheduled_fault_whose_start_failed_makes_the_run_unknown() {
        let failed = Op {
            error: Some("no container redis-0".into()),
            ..scheduled(Info, F::Start, 1, 0, "restart-2013", Some(false))
        };
        let h = history(vec![scheduled(Invoke, F::Start, 1, 0, "restart-2013", None), failed]);
        let reason = "scheduled fault 0 (restart-2013 at 15s) failed to start (op 1: no \
                      container redis-0); none of the 1 faults took effect: restart-2013 (op 1): \
                      the run did not test what it meant to";
        assert_eq!(testkit::verdict(twilio(), &h), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_schedule_carried_out_with_one_fault_taking_effect_stays_valid() {
        let h = history(vec![
            scheduled(Invoke, F::Start, 1, 0, "restart-2013", None),
            scheduled(Info, F::Start, 1, 0, "restart-2013", Some(true)),
            scheduled(Invoke, F::Start, 2, 1, "kill", None),
            scheduled(Info, F::Start, 2, 1, "kill", Some(false)),
        ]);
        let faults = || Faults::new(vec![due(0, "restart-2013", 5_000_000_000), due(1, "kill", 0)]);
        assert_eq!(testkit::verdict(faults(), &h), Verdict::Valid);
        assert_eq!(
            testkit::figures(faults(), &h),
            ["scheduled 2", "started as scheduled 2", "took effect 1", "without effect 1"]
        );
    }

    #[test]
    fn a_schedule_whose_faults_were_never_judged_is_unknown() {
        let h = history(vec![
            scheduled(Invoke, F::Start, 1, 0, "restart-2013", None),
            scheduled(Info, F::Start, 1, 0, "restart-2013", None),
        ]);
        let reason = "none of the 1 scheduled faults was judged to take effect: the run did not \
                      test what it meant to";
        assert_eq!(testkit::verdict(twilio(), &h), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_scheduled_start_that_never_completed_leaves_its_step_unstarted() {
        let h = history(vec![
            scheduled(Invoke, F::Start, 1, 0, "pause", None),
            scheduled(Info, F::Start, 1, 0, "pause", Some(true)),
            scheduled(Invoke, F::Heal, 1, 0, "pause", None),
            scheduled(Info, F::Heal, 1, 0, "pause", None),
            scheduled(Invoke, F::Start, 2, 1, "kill", None),
        ]);
        let faults =
            || Faults::new(vec![due(0, "pause", 0), due(1, "restart-2013", 5_000_000_000)]);
        let reason = "scheduled fault 1 (restart-2013 at 5s) was invoked (op 4) but its start \
                      never completed: the run did not test what it meant to";
        assert_eq!(testkit::verdict(faults(), &h), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_scheduled_step_that_started_another_fault_is_unstarted() {
        let h = history(vec![
            scheduled(Invoke, F::Start, 1, 0, "kill", None),
            scheduled(Info, F::Start, 1, 0, "kill", Some(true)),
        ]);
        let reason = "scheduled fault 0 (restart-2013 at 15s) started kill instead (op 1): the \
                      run did not test what it meant to";
        assert_eq!(testkit::verdict(twilio(), &h), Verdict::Unknown(reason.into()));
    }
}
