//! *unique-ids*: no id is handed out twice (Jepsen's `checker/unique-ids`).
//!
//! Every `generate` that completes `ok` returns an integer id; two such completions
//! returning the same id are an anomaly, witnessed by both.

use crate::checker::{Checker, Event, Figure, Interest};
use crate::fast::FastMap;
use crate::history::{F, OpType, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks that generated ids are unique.
#[derive(Default)]
pub struct UniqueIds {
    /// Each id handed out, with the operation that first returned it.
    seen: FastMap<i64, u64>,
    attempted: u64,
    acknowledged: u64,
    duplicated: u64,
    findings: Findings,
}

impl Checker for UniqueIds {
    fn name(&self) -> &'static str {
        "unique-ids"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        if ev.client().is_none() || ev.op.f != F::Generate {
            return;
        }
        match (ev.kind(), &ev.op.value) {
            (OpType::Invoke, _) => self.attempted += 1,
            (OpType::Ok, Value::Int(id)) => self.generated(ev.index(), *id),
            _ => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::CLIENT_INVOKE.or(Interest::CLIENT_COMPLETION)
    }

    fn finish(&mut self) -> Verdict {
        self.findings.verdict()
    }

    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::count("attempted", self.attempted),
            Figure::count("acknowledged", self.acknowledged),
            Figure::count("duplicated", self.duplicated),
        ]
    }
}

impl UniqueIds {
    fn generated(&mut self, index: u64, id: i64) {
        self.acknowledged += 1;
        let Some(&first) = self.seen.get(&id) else {
            self.seen.insert(id, index);
            return;
        };
        self.duplicated += 1;
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::DuplicateId,
            subject: Subject::Element(id),
            explanation: format!("op {index} was handed id {id}, already handed out at op {first}"),
            ops: vec![first, index],
            magnitude: 1,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn distinct_ids_are_valid_and_a_repeated_one_is_found() {
        let ops = vec![
            invoke(1, nil(F::Generate)),
            ok(1, int(F::Generate, 10)),
            invoke(2, nil(F::Generate)),
            ok(2, int(F::Generate, 11)),
        ];
        assert_eq!(verdict(UniqueIds::default(), &history(ops.clone())), Verdict::Valid);
        let repeat = vec![invoke(3, nil(F::Generate)), ok(3, int(F::Generate, 10))];
        let anomaly = Anomaly {
            kind: AnomalyKind::DuplicateId,
            subject: Subject::Element(10),
            explanation: "op 5 was handed id 10, already handed out at op 1".into(),
            ops: vec![1, 5],
            magnitude: 1,
        };
        assert_eq!(
            verdict(UniqueIds::default(), &history([ops, repeat].concat())),
            invalid(vec![anomaly])
        );
    }
}
