//! *linearizable*: every register of a `register` history is linearizable (Knossos'
//! `linearizable` checker, with Porcupine's search: [`crate::linear`]).
//!
//! Each client `read`, `write` and `cas` on a register ([`Value::Register`]) becomes a
//! [`RegOp`] on its key: `call` is the invocation's index, `ret` the completion's. The
//! search takes real-time order from these indices, so it assumes **the history is
//! recorded in time order** (the recorder numbers operations as they happen); the checker
//! holds the history to it: an operation recorded earlier than the one before it makes
//! the verdict `Unknown`, since real-time order could not be taken from indices.
//!
//! A client operation that is not a register operation (in a `register` history) makes
//! the verdict `Unknown`: skipping it could hide a write a later read saw. (Pairing
//! invocations with completions is the runner's `well-formed` row's to hold.)
//!
//! Outcomes, as the history's format defines them:
//!
//! - `ok`: it took effect; a read's completion carries the value it found.
//! - `fail` with error `mismatch` (a compare-and-set that found another value): a
//!   definite outcome that reads the register ([`RegOutput::Failed`]).
//! - any other `fail`: it did not happen, and is dropped (as Knossos drops failures).
//! - `info`, or no completion at all: unknown; the write or compare-and-set may take
//!   effect at any time after its call, or never. A read whose outcome is unknown
//!   constrains nothing and is dropped.
//!
//! At [`Checker::finish`] every key's sub-history is checked against a
//! [`CasRegister`] that starts nil, within [`Budget::default`]. One anomaly
//! (`not-linearizable`) per key that is not linearizable, explained from the longest
//! prefix the search could order: what the stuck operation saw, and what the key held
//! after that prefix; its witnesses are the operation that last wrote what the key held,
//! the prefix's last few operations, then the stuck
//! operation's invocation and completion, last (the report draws the key around them). A
//! key the budget cannot decide makes the verdict `Unknown`.
//!
//! A history in which no register operation completed (every one failed, crashed or
//! never returned) tested nothing: the verdict is `Unknown`.
//!
//! Memory: unlike the streaming checkers, the register operations are kept until
//! `finish` (about a hundred bytes each), since the search needs each key's whole
//! sub-history.

use crate::checker::{Checker, Event, Figure, Interest};
use crate::fast::FastMap;
use crate::history::{F, MISMATCH, OpType, RegisterOp, Value};
use crate::linear::{Budget, CasRegister, KeyedOp, Model, Outcome, RegInput, RegOp, RegOutput};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};
use std::collections::BTreeMap;

/// How many operations of the longest prefix an anomaly names as witnesses.
const PREFIX_WITNESSES: usize = 4;

/// Checks that each register of a `register` history is linearizable.
#[derive(Default)]
pub struct Linearizable {
    /// Every register operation kept, by key, in invocation order.
    ops: Vec<KeyedOp<u64, RegInput, RegOutput>>,
    /// The completion's index of each kept operation, when it completed.
    completions: Vec<Option<u64>>,
    /// Operations dropped (a failed one, a read of unknown outcome).
    dropped: Vec<bool>,
    /// The pending operation of each process: its position in `ops`.
    pending: FastMap<u32, usize>,
    /// The last client operation's index and time, to hold the history to time order.
    last: Option<(u64, u64)>,
    /// The first operation recorded earlier than the one before it.
    out_of_order: Option<(u64, u64)>,
    /// The first client operation that is not a register operation, and why.
    malformed: Option<String>,
    keys: u64,
    checked: u64,
    longest: u64,
    findings: Findings,
}

impl Checker for Linearizable {
    fn name(&self) -> &'static str {
        "linearizable"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        let Some(p) = ev.client() else { return };
        self.hold_to_time_order(ev);
        match ev.kind() {
            OpType::Invoke => self.invoke(p, ev),
            kind => self.complete(p, kind, ev),
        }
    }

    fn interest(&self) -> Interest {
        Interest::CLIENT_INVOKE.or(Interest::CLIENT_COMPLETION)
    }

    fn finish(&mut self) -> Verdict {
        if let Some(why) = &self.malformed {
            return Verdict::Unknown(format!("{why}, so the registers cannot be checked"));
        }
        if let Some((index, previous)) = self.out_of_order {
            return Verdict::Unknown(format!(
                "op {index} is recorded earlier than op {previous} before it: the history is not \
                 in time order, so real-time order cannot be taken from it"
            ));
        }
        let kept: Vec<_> = (0..self.ops.len()).filter(|&i| !self.dropped[i]).collect();
        let ops: Vec<_> = kept.iter().map(|&i| self.ops[i].clone()).collect();
        let completions: Vec<_> = kept.iter().map(|&i| self.completions[i]).collect();
        self.figure_out(&ops);
        if !ops.iter().any(|(_, op)| op.ret.is_some()) {
            // A run whose registers were never reached tested nothing.
            return Verdict::Unknown("no register operation completed: nothing was tested".into());
        }
        let outcomes =
            crate::linear::check_per_key(&CasRegister::default(), &ops, Budget::default());
        for (key, outcome) in outcomes {
            match outcome {
                Outcome::Linearizable => {}
                Outcome::Unknown(why) => self.findings.unknown(|| format!("key {key}: {why}")),
                Outcome::NotLinearizable { longest_prefix, stuck } => {
                    let anomaly = explain(key, &ops, &completions, &longest_prefix, stuck);
                    self.findings.anomaly(anomaly);
                }
            }
        }
        self.findings.verdict()
    }

    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::count("keys checked", self.keys),
            Figure::count("operations checked", self.checked),
            Figure::count("longest sub-history", self.longest),
        ]
    }
}

impl Linearizable {
    fn hold_to_time_order(&mut self, ev: &Event<'_>) {
        let (index, time) = (ev.index(), ev.op.time);
        if let Some((previous, at)) = self.last
            && time < at
            && self.out_of_order.is_none()
        {
            self.out_of_order = Some((index, previous));
        }
        self.last = Some((index, time));
    }

    fn invoke(&mut self, p: u32, ev: &Event<'_>) {
        let call = ev.index();
        let (Some(input), Value::Register(RegisterOp { key, .. })) =
            (input(&ev.op.f, &ev.op.value), &ev.op.value)
        else {
            // Skipping it could drop a write a later read saw: no verdict rests on that.
            self.malformed.get_or_insert_with(|| {
                format!(
                    "op {call} is not a register read, write or cas ({} {:?})",
                    ev.op.f, ev.op.value
                )
            });
            return;
        };
        let key = *key;
        let op = RegOp { client: u64::from(p), call, ret: None, input, output: None };
        self.pending.insert(p, self.ops.len());
        self.ops.push((key, op));
        self.completions.push(None);
        // A read is dropped unless it completes `ok`: unknown, it constrains nothing.
        self.dropped.push(input == RegInput::Read);
    }

    fn complete(&mut self, p: u32, kind: OpType, ev: &Event<'_>) {
        let Some(i) = self.pending.remove(&p) else { return };
        let (key, op) = &mut self.ops[i];
        let index = ev.index();
        let output = match (kind, op.input, &ev.op.value) {
            (OpType::Ok, RegInput::Read, Value::Register(r)) if r.key == *key => {
                RegOutput::Value(r.value)
            }
            (OpType::Ok, RegInput::Read, value) => {
                // Taken as a nil read, it could make a linearizable register look not.
                let why = format!("op {index} completes a read of key {key} with {value:?}");
                self.malformed.get_or_insert(why);
                return;
            }
            (OpType::Ok, _, _) => RegOutput::Ok,
            (OpType::Fail, RegInput::Cas { .. }, _) if ev.op.error.as_deref() == Some(MISMATCH) => {
                RegOutput::Failed
            }
            (OpType::Fail, _, _) => {
                self.dropped[i] = true;
                return;
            }
            _ => return,
        };
        (op.ret, op.output) = (Some(index), Some(output));
        self.completions[i] = Some(index);
        self.dropped[i] = false;
    }

    fn figure_out(&mut self, ops: &[KeyedOp<u64, RegInput, RegOutput>]) {
        let mut per_key: BTreeMap<u64, u64> = BTreeMap::new();
        ops.iter().for_each(|(key, _)| *per_key.entry(*key).or_default() += 1);
        self.keys = per_key.len() as u64;
        self.checked = ops.len() as u64;
        self.longest = per_key.values().copied().max().unwrap_or(0);
    }
}

/// The register operation an invocation asks for, if it is one.
fn input(f: &F, value: &Value) -> Option<RegInput> {
    let Value::Register(r) = value else { return None };
    match (f, r.value, r.cas) {
        (F::Read, _, None) => Some(RegInput::Read),
        (F::Write, Some(v), None) => Some(RegInput::Write(v)),
        (F::Cas, _, Some([expect, new])) => Some(RegInput::Cas { expect, new }),
        _ => None,
    }
}

/// The index by which an explanation names an operation: its completion, else its
/// invocation.
fn named(op: &RegOp, completion: Option<u64>) -> u64 {
    completion.unwrap_or(op.call)
}

/// What an operation did, in words: "read key 7 as 3".
fn did(key: u64, op: &RegOp) -> String {
    match (op.input, op.output) {
        (RegInput::Read, Some(RegOutput::Value(v))) => format!("read key {key} as {}", shown(v)),
        (RegInput::Read, _) => format!("read key {key}"),
        (RegInput::Write(v), Some(_)) => format!("wrote {v} to key {key}"),
        (RegInput::Write(v), None) => format!("may have written {v} to key {key}"),
        (RegInput::Cas { expect, new }, Some(RegOutput::Ok)) => {
            format!("set key {key} from {expect} to {new}")
        }
        (RegInput::Cas { expect, new }, Some(_)) => {
            format!("found key {key} not {expect} (cas {expect} to {new} failed)")
        }
        (RegInput::Cas { expect, new }, None) => {
            format!("may have set key {key} from {expect} to {new}")
        }
    }
}

fn shown(v: Option<i64>) -> String {
    v.map_or_else(|| "nil".into(), |v| v.to_string())
}

/// The anomaly of a key that is not linearizable: the stuck operation against what the
/// longest orderable prefix left in the register.
fn explain(
    key: u64,
    ops: &[KeyedOp<u64, RegInput, RegOutput>],
    completions: &[Option<u64>],
    prefix: &[usize],
    stuck: usize,
) -> Anomaly {
    let model = CasRegister::default();
    let (mut state, mut writer) = (model.init(), None);
    for &i in prefix {
        let op = &ops[i].1;
        let next = model.step(&state, &op.input, op.output.as_ref()).expect("a linearized prefix");
        let wrote = match op.input {
            RegInput::Read => false,
            RegInput::Write(_) => true,
            RegInput::Cas { expect, .. } => state == Some(expect),
        };
        if wrote {
            writer = Some(i);
        }
        state = next;
    }
    let op = &ops[stuck].1;
    let tail = &prefix[prefix.len().saturating_sub(PREFIX_WITNESSES)..];
    let mut witnesses: Vec<u64> = writer
        .iter()
        .filter(|w| !tail.contains(w))
        .chain(tail)
        .map(|&i| named(&ops[i].1, completions[i]))
        .collect();
    witnesses.extend([op.call].into_iter().chain(completions[stuck]));
    let writer = match writer {
        Some(w) => {
            let by = &ops[w].1;
            let acknowledged = match completions[w] {
                Some(c) => format!("acknowledged at op {c}"),
                None => "never acknowledged".into(),
            };
            format!(" (last written by op {}, {acknowledged})", by.call)
        }
        None => " (never written)".into(),
    };
    let explanation = format!(
        "op {} {}, but after the {} operations before it that can be ordered, key {key} holds \
         {}{writer}: no order consistent with real time explains it",
        named(op, completions[stuck]),
        did(key, op),
        prefix.len(),
        shown(state),
    );
    let unordered = ops.iter().filter(|(k, o)| *k == key && o.ret.is_some()).count();
    Anomaly {
        kind: AnomalyKind::NotLinearizable,
        subject: Subject::Register(key),
        explanation,
        ops: witnesses,
        magnitude: unordered.saturating_sub(prefix.len()) as i64,
    }
}

#[cfg(test)]
mod tests;
