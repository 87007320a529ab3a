//! *faults*: whether the run's faults took effect (reachability).
//!
//! The nemesis records, on a fault's start or heal completion, whether it observed the
//! fault's intended effect (`observed`: a partition that cut the links, a bad restart
//! that lost the data, a resync storm whose replicas resynced in full — the last judged
//! only at the heal). A fault's latest judgement stands. A run whose faults never took
//! effect has not tested what it meant to, whatever the other checkers say, so:
//!
//! - no fault judged: valid, with nothing to report;
//! - at least one fault took effect: valid, with how many did and did not as figures
//!   (the report lists which);
//! - faults judged and none took effect: unknown, naming them.
//!
//! A fault whose completions say nothing about its effect counts as neither; so does a
//! heal that no start opened (the final heal-all).

use crate::checker::{Checker, Event, Figure, Interest};
use crate::history::{F, OpType, Value};
use crate::verdict::Verdict;
use std::collections::BTreeMap;

/// Every started fault by id: its name, the operation that last judged it and that
/// judgement (whether the effect was observed), if any.
#[derive(Default)]
pub struct Faults {
    started: BTreeMap<u32, (String, u64, Option<bool>)>,
}

impl Faults {
    fn count(&self, observed: bool) -> u64 {
        self.started.values().filter(|(_, _, seen)| *seen == Some(observed)).count() as u64
    }

    fn judged(&self) -> impl Iterator<Item = &(String, u64, Option<bool>)> {
        self.started.values().filter(|(_, _, seen)| seen.is_some())
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
        if ev.op.f == F::Start && ev.kind() == OpType::Invoke {
            self.started.insert(fault.id, (fault.fault.clone(), ev.index(), None));
        }
        if let (Some(seen), Some(entry)) = (fault.observed, self.started.get_mut(&fault.id)) {
            (entry.1, entry.2) = (ev.index(), Some(seen));
        }
    }

    fn interest(&self) -> Interest {
        Interest::NEMESIS
    }

    fn finish(&mut self) -> Verdict {
        if self.count(true) > 0 || self.judged().next().is_none() {
            return Verdict::Valid;
        }
        let names: Vec<String> =
            self.judged().map(|(name, index, _)| format!("{name} (op {index})")).collect();
        Verdict::Unknown(format!(
            "none of the {} faults took effect, so the run did not test what it meant to: {}",
            names.len(),
            names.join(", ")
        ))
    }

    fn figures(&self) -> Vec<Figure> {
        if self.judged().next().is_none() {
            return Vec::new();
        }
        vec![
            Figure::count("took effect", self.count(true)),
            Figure::count("without effect", self.count(false)),
        ]
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
                "none of the 2 faults took effect, so the run did not test what it meant to: kill (op 5), kill (op 7)"
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
                "none of the 2 faults took effect, so the run did not test what it meant to: kill (op 1), kill (op 5)"
                    .into()
            )
        );
    }
}
