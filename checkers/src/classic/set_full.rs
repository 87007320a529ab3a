//! *set-full*: what became of every element added to a set (Jepsen's `checker/set-full`).
//!
//! An element is *known* from the earlier of its add's `ok` completion and the first
//! read completing with it. Only reads invoked after an element was known can miss it.
//! Then, per element:
//! - **never-read**: no read was invoked after it was known;
//! - **lost**: a read invoked after it was known, and after every read that saw it had
//!   completed, does not contain it;
//! - **stable**: otherwise, with at least one read containing it; **stale** if some read
//!   invoked after it was known missed it anyway.
//!
//! Lost elements, duplicates within a read and elements never added are anomalies;
//! stale elements are anomalies only for a set promised to be linearizable. A history
//! where no element is stable or lost (nothing was read after being added) is `Unknown`.

use crate::checker::{Checker, Event, Figure, Interest};
use crate::fast::FastMap;
use crate::history::{F, OpType, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks a set of integers.
#[derive(Default)]
pub struct SetFull {
    linearizable: bool,
    elements: FastMap<i64, Element>,
    counts: Counts,
    findings: Findings,
}

#[derive(Default)]
struct Element {
    known: Option<u64>,
    /// The (invocation, completion) of the last read that contained it.
    last_present: Option<(u64, u64)>,
    /// The (invocation, completion) of the last read invoked after it was known that missed it.
    last_absent: Option<(u64, u64)>,
    /// The completion of the first read invoked after it was known that missed it.
    first_absent: Option<u64>,
}

#[derive(Default)]
struct Counts {
    attempted: u64,
    stable: u64,
    stale: u64,
    lost: u64,
    never_read: u64,
}

impl SetFull {
    /// A set-full checker; `linearizable` makes stale reads anomalies.
    pub fn new(linearizable: bool) -> SetFull {
        SetFull { linearizable, ..SetFull::default() }
    }
}

impl Checker for SetFull {
    fn name(&self) -> &'static str {
        "set-full"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        if ev.client().is_none() {
            return;
        }
        match (&ev.op.f, ev.kind(), &ev.op.value) {
            (F::Add, OpType::Invoke, Value::Int(e)) => {
                self.counts.attempted += 1;
                self.elements.entry(*e).or_default();
            }
            (F::Add, OpType::Ok, _) => {
                if let Value::Int(e) = ev.args() {
                    let element = self.elements.entry(*e).or_default();
                    element.known.get_or_insert(ev.index());
                }
            }
            (F::Read, OpType::Ok, Value::List(read)) => {
                self.read(ev.invoke_index(), ev.index(), read)
            }
            _ => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::CLIENT_INVOKE.or(Interest::CLIENT_COMPLETION)
    }

    fn finish(&mut self) -> Verdict {
        let mut elements: Vec<(i64, Element)> =
            std::mem::take(&mut self.elements).into_iter().collect();
        elements.sort_unstable_by_key(|(e, _)| *e);
        elements.iter().for_each(|(e, state)| self.outcome(*e, state));
        let verdict = self.findings.verdict();
        if verdict.is_valid() && self.counts.stable == 0 {
            return Verdict::Unknown(
                "no element was read after it was added: the set was never read".into(),
            );
        }
        verdict
    }

    fn figures(&self) -> Vec<Figure> {
        let c = &self.counts;
        vec![
            Figure::count("attempted", c.attempted),
            Figure::count("stable", c.stable),
            Figure::count("stale", c.stale),
            Figure::count("lost", c.lost),
            Figure::count("never read", c.never_read),
        ]
    }
}

impl SetFull {
    fn read(&mut self, invoked: u64, completed: u64, read: &[i64]) {
        let mut sorted = read.to_vec();
        sorted.sort_unstable();
        for pair in sorted.windows(2).filter(|w| w[0] == w[1]) {
            self.findings.anomaly(element_anomaly(
                AnomalyKind::DuplicateElement,
                pair[0],
                format!("the read at op {completed} contains element {} more than once", pair[0]),
                vec![completed],
            ));
        }
        sorted.dedup();
        for &e in &sorted {
            let Some(element) = self.elements.get_mut(&e) else {
                let why = format!(
                    "the read at op {completed} contains element {e}, which no add attempted"
                );
                self.findings.anomaly(element_anomaly(
                    AnomalyKind::UnexpectedElement,
                    e,
                    why,
                    vec![completed],
                ));
                continue;
            };
            element.known.get_or_insert(completed);
            element.last_present = Some((invoked, completed));
        }
        for (e, element) in self.elements.iter_mut() {
            if element.known.is_some_and(|k| k < invoked) && sorted.binary_search(e).is_err() {
                element.last_absent = Some((invoked, completed));
                element.first_absent.get_or_insert(completed);
            }
        }
    }

    fn outcome(&mut self, e: i64, s: &Element) {
        let Some(known) = s.known else { return };
        let lost = match (s.last_absent, s.last_present) {
            (None, None) => {
                self.counts.never_read += 1;
                return;
            }
            (Some(absent), present) => {
                present.is_none_or(|(_, done)| absent.0 > done).then_some(absent.1)
            }
            (None, Some(_)) => None,
        };
        if let Some(absent) = lost {
            self.counts.lost += 1;
            let why = format!(
                "element {e}, known since op {known}, is missing from the read at op {absent}, begun after \
                 every read that saw it had ended: the set lost it"
            );
            self.findings.anomaly(element_anomaly(
                AnomalyKind::LostElement,
                e,
                why,
                vec![known, absent],
            ));
            return;
        }
        self.counts.stable += 1;
        if let Some(first_absent) = s.first_absent {
            self.counts.stale += 1;
            if self.linearizable {
                let why = format!(
                    "element {e}, known since op {known}, is missing from the read at op {first_absent} \
                     though later reads contain it: a stale read"
                );
                self.findings.anomaly(element_anomaly(
                    AnomalyKind::StaleElement,
                    e,
                    why,
                    vec![known, first_absent],
                ));
            }
        }
    }
}

fn element_anomaly(kind: AnomalyKind, e: i64, explanation: String, ops: Vec<u64>) -> Anomaly {
    Anomaly { kind, subject: Subject::Element(e), explanation, ops, magnitude: 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    fn add_ok(p: u32, e: i64) -> [crate::history::Op; 2] {
        [invoke(p, int(F::Add, e)), ok(p, int(F::Add, e))]
    }

    fn read_ok(p: u32, elements: &[i64]) -> [crate::history::Op; 2] {
        [invoke(p, nil(F::Read)), ok(p, list(elements))]
    }

    #[test]
    fn elements_read_after_their_add_are_stable() {
        let h = history([add_ok(1, 1), add_ok(1, 2), read_ok(2, &[1, 2])].concat());
        assert_eq!(verdict(SetFull::default(), &h), Verdict::Valid);
    }

    #[test]
    fn an_acknowledged_element_missing_from_a_later_read_is_lost() {
        let h =
            history([add_ok(1, 1), add_ok(1, 2), read_ok(2, &[1, 2]), read_ok(2, &[2])].concat());
        let why = "element 1, known since op 1, is missing from the read at op 7, begun after every read \
                   that saw it had ended: the set lost it";
        let anomaly = element_anomaly(AnomalyKind::LostElement, 1, why.into(), vec![1, 7]);
        assert_eq!(verdict(SetFull::default(), &h), invalid(vec![anomaly]));
    }

    #[test]
    fn a_stale_read_is_an_anomaly_only_for_a_linearizable_set() {
        let h = history([add_ok(1, 1), read_ok(2, &[]), read_ok(2, &[1])].concat());
        assert_eq!(verdict(SetFull::default(), &h), Verdict::Valid);
        let why = "element 1, known since op 1, is missing from the read at op 3 though later reads contain \
                   it: a stale read";
        let anomaly = element_anomaly(AnomalyKind::StaleElement, 1, why.into(), vec![1, 3]);
        assert_eq!(verdict(SetFull::new(true), &h), invalid(vec![anomaly]));
    }

    #[test]
    fn duplicated_and_unexpected_elements_are_found() {
        let h = history([add_ok(1, 1), read_ok(2, &[1, 1, 9])].concat());
        let expected = invalid(vec![
            element_anomaly(
                AnomalyKind::DuplicateElement,
                1,
                "the read at op 3 contains element 1 more than once".into(),
                vec![3],
            ),
            element_anomaly(
                AnomalyKind::UnexpectedElement,
                9,
                "the read at op 3 contains element 9, which no add attempted".into(),
                vec![3],
            ),
        ]);
        assert_eq!(verdict(SetFull::default(), &h), expected);
    }

    #[test]
    fn a_set_never_read_after_its_adds_is_unknown() {
        let h = history([read_ok(2, &[]), add_ok(1, 1)].concat());
        let reason = "no element was read after it was added: the set was never read";
        assert_eq!(verdict(SetFull::default(), &h), Verdict::Unknown(reason.into()));
    }
}
