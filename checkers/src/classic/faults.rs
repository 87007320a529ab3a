//! *faults*: whether the run's faults took effect (reachability).
//!
//! The nemesis records, on each fault's start completion, whether it observed the
//! fault's intended effect (`observed`: a partition that cut the links, a bad restart
//! that lost the data). A run whose faults never took effect has not tested what it
//! meant to, whatever the other checkers say, so:
//!
//! - no fault started: valid, with nothing to report;
//! - at least one fault took effect: valid, with how many did and did not as figures
//!   (the report lists which);
//! - faults started and none took effect: unknown, naming them.
//!
//! A start whose completion says nothing about its effect counts as neither.

use crate::checker::{Checker, Event, Figure, Interest};
use crate::history::{F, OpType, Value};
use crate::verdict::Verdict;

/// Counts faults by whether their effect was observed.
#[derive(Default)]
pub struct Faults {
    took_effect: u64,
    without_effect: Vec<(String, u64)>,
}

impl Checker for Faults {
    fn name(&self) -> &'static str {
        "faults"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        let (F::Start, Value::Fault(fault)) = (&ev.op.f, &ev.op.value) else { return };
        if ev.kind() == OpType::Invoke {
            return;
        }
        match fault.observed {
            Some(true) => self.took_effect += 1,
            Some(false) => self.without_effect.push((fault.fault.clone(), ev.index())),
            None => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::NEMESIS
    }

    fn finish(&mut self) -> Verdict {
        if self.took_effect > 0 || self.without_effect.is_empty() {
            return Verdict::Valid;
        }
        let names: Vec<String> = self
            .without_effect
            .iter()
            .map(|(name, index)| format!("{name} (op {index})"))
            .collect();
        Verdict::Unknown(format!(
            "none of the {} faults took effect, so the run did not test what it meant to: {}",
            self.without_effect.len(),
            names.join(", ")
        ))
    }

    fn figures(&self) -> Vec<Figure> {
        if self.took_effect == 0 && self.without_effect.is_empty() {
            return Vec::new();
        }
        vec![
            Figure::count("took effect", self.took_effect),
            Figure::count("without effect", self.without_effect.len() as u64),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::InFlight;
    use crate::fast::FastMap;
    use crate::history::{FaultEvent, Op, Process};

    fn verdict(observed: &[Option<bool>]) -> (Verdict, Vec<Figure>) {
        let mut checker = Faults::default();
        let none = FastMap::default();
        for (i, seen) in observed.iter().enumerate() {
            for kind in [OpType::Invoke, OpType::Info] {
                let event = FaultEvent {
                    id: i as u32,
                    fault: "kill".into(),
                    targets: vec!["redis-0".into()],
                    effect: None,
                    observed: if kind == OpType::Info { *seen } else { None },
                };
                let op = Op {
                    index: 2 * i as u64 + u64::from(kind == OpType::Info),
                    time: 0,
                    process: Process::Nemesis,
                    kind,
                    f: F::Start,
                    value: Value::Fault(event),
                    error: None,
                };
                checker.observe(&Event { op: &op, invocation: None, in_flight: InFlight(&none) });
            }
        }
        (checker.finish(), checker.figures())
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
