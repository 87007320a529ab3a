//! The driver: feeds a history, one operation at a time, to every checker.
//!
//! The [`Runner`] pairs each completion with its invocation (a map from process to its
//! pending invocation, as large as the concurrency), checks that the history is well
//! formed, and shields checkers from one another: a checker that panics is reported
//! `Unknown` and the rest go on.
//!
//! Operations that are paired: those of clients, of the nemesis, the monitor's probes and
//! the harness's `settle`. The harness's `open`, `final` and `phase` records are single
//! `ok` operations, and so are the gateway's charges and the sentinel watch's events.
//!
//! **Well-formedness.** A history is well formed when indices ascend, every paired
//! completion follows an invocation by the same process, no process invokes twice
//! without completing, and no client process invokes again after an `info` completion.
//! A probe completed without an invocation is well formed: histories written before
//! probes were paired record each probe once, as an instantaneous observation, and
//! checkers see it as invoked and completed at once. A violation makes the
//! `well-formed` row `Unknown`, naming the line and index. So does a record of the
//! sentinel watch (process `sentinel`) that is not a single `ok` `event` operation whose
//! value is a [`SentinelEvent`](crate::history::SentinelEvent) (`sentinel`, `event`,
//! `detail` as strings); checkers ignore such a record. The runner then repairs the
//! pairing conservatively, so the other checkers can still report what they see: a
//! completion without invocation is treated as invoked just before it, and an
//! invocation superseded by another one as completed `info`.

use crate::checker::{Checker, Event, InFlight, Interest};
use crate::fast::{FastMap, ProcessSet};
use crate::history::{F, Op, OpType, Process, Value};
use crate::report::{CheckResult, Report};
use crate::verdict::{Findings, Verdict};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Feeds operations to a set of checkers and gathers their verdicts.
pub struct Runner {
    slots: Vec<Slot>,
    pending: FastMap<Process, Op>,
    retired: ProcessSet,
    last_index: Option<u64>,
    malformed: Findings,
    ops: u64,
}

struct Slot {
    checker: Box<dyn Checker>,
    interest: Interest,
    panic: Option<String>,
}

/// The name of the runner's own row in a report.
pub const WELL_FORMED: &str = "well-formed";

impl Runner {
    /// A runner feeding these checkers.
    pub fn new(checkers: Vec<Box<dyn Checker>>) -> Runner {
        Runner {
            slots: checkers
                .into_iter()
                .map(|checker| Slot { interest: checker.interest(), checker, panic: None })
                .collect(),
            pending: FastMap::default(),
            retired: ProcessSet::default(),
            last_index: None,
            malformed: Findings::default(),
            ops: 0,
        }
    }

    /// Takes in the next operation; `line` is its line in a history file, if it came
    /// from one.
    pub fn observe(&mut self, op: &Op, line: Option<u64>) {
        self.ops += 1;
        self.check_order(op, line);
        if op.process == Process::Sentinel {
            self.check_sentinel(op, line);
        }
        match (paired(op), op.kind) {
            (false, _) => self.feed(op, None),
            (true, OpType::Invoke) => self.invoke(op, line),
            (true, _)
                if op.process == Process::Monitor && !self.pending.contains_key(&op.process) =>
            {
                self.feed(op, None)
            }
            (true, _) => self.complete(op, line),
        }
    }

    fn check_order(&mut self, op: &Op, line: Option<u64>) {
        if let Some(last) = self.last_index.filter(|&last| op.index <= last) {
            let at = place(op.index, line);
            self.malformed.unknown(|| format!("{at}: index does not ascend (follows op {last})"));
        }
        self.last_index = Some(op.index);
    }

    /// A sentinel watch's record is a single `ok` `event` carrying a sentinel event.
    fn check_sentinel(&mut self, op: &Op, line: Option<u64>) {
        let mut wrong = Vec::new();
        if op.kind != OpType::Ok {
            wrong.push(format!("its type is {}, not ok", kind_name(op.kind)));
        }
        if op.f != F::Event {
            wrong.push(format!("its f is {}, not event", op.f));
        }
        if !matches!(op.value, Value::Sentinel(_)) {
            wrong.push(
                "its value is not a sentinel event (sentinel, event and detail as strings)".into(),
            );
        }
        if !wrong.is_empty() {
            let at = place(op.index, line);
            self.malformed.unknown(|| {
                format!("{at}: a record of the sentinel watch is malformed: {}", wrong.join("; "))
            });
        }
    }

    fn invoke(&mut self, op: &Op, line: Option<u64>) {
        let at = || place(op.index, line);
        if let Process::Client(p) = op.process
            && self.retired.contains(p)
        {
            self.malformed.unknown(|| {
                format!(
                    "{}: process {p} invokes again after an indeterminate (info) completion",
                    at()
                )
            });
        }
        if let Some(prev) = self.pending.remove(&op.process) {
            let (p, i) = (op.process, prev.index);
            self.malformed
                .unknown(|| format!("{}: {p} invokes again before completing op {i}", at()));
            let info = Op { kind: OpType::Info, index: op.index, time: op.time, ..prev.clone() };
            self.feed(&info, Some(&prev));
        }
        self.feed(op, None);
        self.pending.insert(op.process, op.clone());
    }

    fn complete(&mut self, op: &Op, line: Option<u64>) {
        let inv = match self.pending.remove(&op.process) {
            Some(inv) => inv,
            None => {
                let (at, p) = (place(op.index, line), op.process);
                self.malformed
                    .unknown(|| format!("{at}: {p} completes an operation it never invoked"));
                let inv = Op { kind: OpType::Invoke, ..op.clone() };
                self.feed(&inv, None);
                inv
            }
        };
        self.feed(op, Some(&inv));
        if let (OpType::Info, Process::Client(p)) = (op.kind, op.process) {
            self.retired.insert(p);
        }
    }

    fn feed(&mut self, op: &Op, invocation: Option<&Op>) {
        let ev = &Event { op, invocation, in_flight: InFlight(&self.pending) };
        let class = Interest::of(op);
        for slot in &mut self.slots {
            if slot.panic.is_some() || !slot.interest.meets(class) {
                continue;
            }
            let observed = panic::catch_unwind(AssertUnwindSafe(|| slot.checker.observe(ev)));
            if let Err(payload) = observed {
                slot.panic = Some(format!("at op {}: {}", ev.op.index, message(&*payload)));
            }
        }
    }

    /// How many operations were observed.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Every checker's verdict, the runner's own `well-formed` row first.
    pub fn finish(mut self) -> Report {
        let mut results = vec![CheckResult::new(WELL_FORMED, self.malformed.verdict(), Vec::new())];
        results.extend(self.slots.iter_mut().map(Slot::finish));
        Report { meta: Default::default(), ops: self.ops, torn_tail: None, results }
    }
}

impl Slot {
    fn finish(&mut self) -> CheckResult {
        let name = self.checker.name();
        let verdict = match self.panic.take() {
            Some(p) => Verdict::Unknown(format!("the {name} checker crashed {p}")),
            None => match panic::catch_unwind(AssertUnwindSafe(|| self.checker.finish())) {
                Ok(v) => v,
                Err(payload) => Verdict::Unknown(format!(
                    "the {name} checker crashed at the end: {}",
                    message(&*payload)
                )),
            },
        };
        let figures =
            panic::catch_unwind(AssertUnwindSafe(|| self.checker.figures())).unwrap_or_default();
        CheckResult::new(name, verdict, figures).with_concern(self.checker.concern())
    }
}

/// Whether an operation is recorded as an invocation and a completion.
fn paired(op: &Op) -> bool {
    match op.process {
        Process::Client(_) | Process::Nemesis | Process::Monitor => true,
        Process::Harness => op.f == F::Settle,
        Process::Gateway | Process::Sentinel => false,
    }
}

/// An operation type as histories write it.
fn kind_name(kind: OpType) -> &'static str {
    match kind {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        OpType::Info => "info",
    }
}

fn place(index: u64, line: Option<u64>) -> String {
    match line {
        Some(line) => format!("line {line} (op {index})"),
        None => format!("op {index}"),
    }
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Reconciliation;
    use crate::history::History;
    use crate::history::StoreStatus::Healthy;
    use crate::testkit::*;

    struct Boom;

    impl Checker for Boom {
        fn name(&self) -> &'static str {
            "boom"
        }

        fn observe(&mut self, ev: &Event<'_>) {
            assert!(ev.op.index < 1, "boom");
        }

        fn finish(&mut self) -> Verdict {
            Verdict::Valid
        }
    }

    /// Counts what it is shown.
    struct Seen(std::rc::Rc<std::cell::Cell<u32>>, Interest);

    impl Checker for Seen {
        fn name(&self) -> &'static str {
            "seen"
        }

        fn observe(&mut self, _: &Event<'_>) {
            self.0.set(self.0.get() + 1);
        }

        fn finish(&mut self) -> Verdict {
            Verdict::Valid
        }

        fn interest(&self) -> Interest {
            self.1
        }
    }

    #[test]
    fn a_checker_is_shown_only_the_operations_it_is_interested_in() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 5)),
            captured(55, 7, 1000),
            ok(1, debit(7, 5)),
        ]);
        let counts = [
            (Interest::ALL, 4),
            (Interest::GATEWAY, 1),
            (Interest::CLIENT_INVOKE.or(Interest::HARNESS), 2),
        ];
        for (interest, expected) in counts {
            let seen = std::rc::Rc::new(std::cell::Cell::new(0));
            let mut runner = Runner::new(vec![Box::new(Seen(seen.clone(), interest))]);
            h.iter().for_each(|op| runner.observe(op, None));
            assert_eq!(seen.get(), expected, "{interest:?}");
        }
    }

    fn well_formed(h: &History) -> Verdict {
        let mut runner = Runner::new(vec![]);
        h.iter().for_each(|op| runner.observe(op, Some(op.index + 2)));
        runner.finish().results.remove(0).verdict
    }

    #[test]
    fn a_well_formed_history_is_valid() {
        let h =
            history(vec![invoke(1, read(7)), invoke(2, read(7)), ok(2, read(7)), info(1, read(7))]);
        assert_eq!(well_formed(&h), Verdict::Valid);
    }

    #[test]
    fn a_completion_without_invocation_is_unknown_with_its_line() {
        let h = history(vec![invoke(1, read(7)), ok(2, read(7)), ok(1, read(7))]);
        let reason = "line 3 (op 1): process 2 completes an operation it never invoked";
        assert_eq!(well_formed(&h), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_double_invocation_is_unknown() {
        let h = history(vec![invoke(1, read(7)), invoke(1, read(8))]);
        let reason = "line 3 (op 1): process 1 invokes again before completing op 0";
        assert_eq!(well_formed(&h), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_process_invoking_after_an_indeterminate_completion_is_unknown() {
        let h = history(vec![invoke(1, read(7)), info(1, read(7)), invoke(1, read(7))]);
        let reason =
            "line 4 (op 2): process 1 invokes again after an indeterminate (info) completion";
        assert_eq!(well_formed(&h), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn indices_that_do_not_ascend_are_unknown() {
        let mut h =
            history(vec![invoke(1, read(7)), ok(1, read(7)), invoke(1, read(7)), ok(1, read(7))]);
        h.ops[2].index = 1;
        let reason = "line 3 (op 1): index does not ascend (follows op 1)";
        assert_eq!(well_formed(&h), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_lone_completion_counts_as_invoked_just_before_it() {
        let h = history(vec![open(7, 500, 100, 1000), fail(1, debit(7, 20)), settled(7, 500, &[])]);
        let mut runner = Runner::new(vec![Box::new(Reconciliation::default())]);
        h.iter().for_each(|op| runner.observe(op, None));
        let report = runner.finish();
        assert_eq!(report.results[0].verdict.validity(), crate::verdict::Validity::Unknown);
        assert_eq!(report.results[1].verdict, Verdict::Valid);
    }

    #[test]
    fn probes_and_settle_are_paired_and_a_lone_probe_is_instantaneous() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            probe(Healthy, &[], &[]),
            probe_invoked(),
            settle_invoked(),
            probe(Healthy, &[], &[]),
            settle_ok(),
            settled(7, 500, &[]),
        ]);
        assert_eq!(well_formed(&h), Verdict::Valid);
    }

    #[test]
    fn sentinel_events_are_single_completed_operations() {
        let h = history(vec![
            invoke(1, debit(7, 5)),
            sentinel("sentinel-0", "+sdown", None),
            sentinel("sentinel-1", "+sdown", None),
            sentinel("sentinel-0", "+switch-master", Some("redis-1")),
            ok(1, debit(7, 5)),
            sentinel("sentinel-1", "+switch-master", Some("redis-1")),
        ]);
        assert_eq!(well_formed(&h), Verdict::Valid);
    }

    #[test]
    fn a_sentinel_record_not_ok_is_malformed() {
        let mut op = sentinel("sentinel-0", "+sdown", None);
        op.kind = OpType::Info;
        let reason = "line 2 (op 0): a record of the sentinel watch is malformed: its type is \
                      info, not ok";
        assert_eq!(well_formed(&history(vec![op])), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_sentinel_record_not_an_event_is_malformed() {
        let mut op = sentinel("sentinel-0", "+sdown", None);
        op.f = F::Other("published".into());
        let reason = "line 2 (op 0): a record of the sentinel watch is malformed: its f is \
                      published, not event";
        assert_eq!(well_formed(&history(vec![op])), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_sentinel_record_without_a_sentinel_event_is_malformed() {
        let mut op = sentinel("sentinel-0", "+sdown", None);
        op.value = Value::Json(serde_json::json!({"sentinel": "sentinel-0", "event": "+sdown"}));
        let reason = "line 2 (op 0): a record of the sentinel watch is malformed: its value is \
                      not a sentinel event (sentinel, event and detail as strings)";
        assert_eq!(well_formed(&history(vec![op])), Verdict::Unknown(reason.into()));
        // Read from a file: the line parses, the value stays JSON, and the row says so.
        let line = br#"{"index":0,"time":0,"process":"sentinel","type":"ok","f":"event","value":{"sentinel":"sentinel-0","event":7}}"#;
        let op = crate::format::parse_op(line).expect("a readable line");
        assert!(matches!(op.value, Value::Json(_)), "{op:?}");
        assert_eq!(well_formed(&history(vec![op])), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_probe_or_settle_invoked_twice_is_unknown() {
        let h = history(vec![probe_invoked(), probe_invoked()]);
        let reason = "line 3 (op 1): the monitor invokes again before completing op 0";
        assert_eq!(well_formed(&h), Verdict::Unknown(reason.into()));
        let h = history(vec![settle_ok()]);
        let reason = "line 2 (op 0): the harness completes an operation it never invoked";
        assert_eq!(well_formed(&h), Verdict::Unknown(reason.into()));
    }

    #[test]
    fn a_checker_sees_a_probe_completion_with_its_invocation() {
        let h = history(vec![probe_invoked(), probe(Healthy, &[], &[])]);
        struct Pairs(std::rc::Rc<std::cell::Cell<Option<u64>>>);
        impl Checker for Pairs {
            fn name(&self) -> &'static str {
                "pairs"
            }
            fn observe(&mut self, ev: &Event<'_>) {
                if ev.kind() == OpType::Ok {
                    self.0.set(ev.invocation.map(|inv| inv.index));
                }
            }
            fn finish(&mut self) -> Verdict {
                Verdict::Valid
            }
        }
        let seen = std::rc::Rc::new(std::cell::Cell::new(None));
        let mut runner = Runner::new(vec![Box::new(Pairs(seen.clone()))]);
        h.iter().for_each(|op| runner.observe(op, None));
        assert_eq!(seen.get(), Some(0));
    }

    #[test]
    fn a_panicking_checker_is_unknown_and_the_others_go_on() {
        let h = history(vec![open(7, 500, 100, 1000), settled(7, 500, &[])]);
        let mut runner = Runner::new(vec![Box::new(Boom), Box::new(Reconciliation::default())]);
        h.iter().for_each(|op| runner.observe(op, None));
        let report = runner.finish();
        let expected = Verdict::Unknown("the boom checker crashed at op 1: boom".into());
        assert_eq!(report.results[1].verdict, expected);
        assert_eq!(report.results[2].verdict, Verdict::Valid);
        assert_eq!(report.exit_code(), 2);
    }
}
