//! One streaming pass over a history, gathering what the report draws: fault windows
//! and the scheduled steps that never started, when the recovery phase began,
//! operations for the timeline and latency plot (thinned to a bound, so memory does not
//! grow with the history), what each Redis sentinel said about the master (up to a
//! bound), throughput per second, and the operations that witness anomalies.

use checkers::format::{self, HistoryReader, ReadError};
use checkers::history::{F, OpType, Process, SentinelEvent, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;

/// At most this many operations are kept for the timeline and latency plot; beyond it
/// every other one is dropped and the stride doubles.
const MAX_SPANS: usize = 10_000;

/// At most this many sentinel events are marked on the timeline; later ones are counted.
const MAX_MARKS: usize = 2_000;

/// What a sentinel said about the master, as the timeline marks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Said {
    /// `+sdown` on the master: this sentinel cannot reach it.
    SubjectivelyDown,
    /// `+odown` on the master: enough sentinels agree it is down to fail over.
    ObjectivelyDown,
    /// `+switch-master`: this sentinel now names another master (the node, when the
    /// harness could name it).
    SwitchMaster(Option<String>),
    /// `+convert-to-slave`: this sentinel turns a former master into a replica.
    ConvertToReplica,
}

impl Said {
    /// What a sentinel event says, if the timeline marks it.
    pub fn of(event: &SentinelEvent) -> Option<Said> {
        match event.event.as_str() {
            "+sdown" if event.about_master() => Some(Said::SubjectivelyDown),
            "+odown" if event.about_master() => Some(Said::ObjectivelyDown),
            "+switch-master" => Some(Said::SwitchMaster(event.master.clone())),
            "+convert-to-slave" => Some(Said::ConvertToReplica),
            _ => None,
        }
    }
}

/// One sentinel event on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct SentinelMark {
    /// The sentinel that said it.
    pub sentinel: String,
    /// Seconds since the run started.
    pub time: f64,
    /// What it said.
    pub said: Said,
}

/// A fault's window, from its start's invocation to its heal's completion.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FaultWindow {
    /// The fault's name.
    pub fault: String,
    /// Its targets.
    pub targets: Vec<String>,
    /// Seconds since the run started.
    pub start: f64,
    /// When it healed; `None` if the history ends first.
    pub end: Option<f64>,
    /// Whether its intended effect was observed, if it said.
    pub observed: Option<bool>,
    /// The schedule's step it performed, if it was one.
    pub step: Option<u32>,
    /// What its heal declares it did beyond undoing the fault (e.g. a rollback to a
    /// snapshot): the heal effect's `declared`.
    pub declared: Option<String>,
}

/// A step of the header's schedule.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScheduledStep {
    /// Its number.
    pub step: u32,
    /// The fault's name.
    pub fault: String,
    /// When it was to start, in nanoseconds since the run started.
    pub at: u64,
}

/// One client operation, from invocation to completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The process.
    pub process: u32,
    /// What it did.
    pub f: String,
    /// How it completed.
    pub kind: OpType,
    /// Invocation, seconds since the run started.
    pub start: f64,
    /// Completion, seconds since the run started.
    pub end: f64,
    /// The completion's index.
    pub index: u64,
}

/// Completions in one second of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// `ok` completions.
    pub ok: u64,
    /// `fail` completions.
    pub fail: u64,
    /// `info` completions.
    pub info: u64,
}

/// An operation an anomaly points at.
#[derive(Clone, Debug, PartialEq)]
pub struct Witnessing {
    /// When it happened, in seconds since the run started.
    pub time: f64,
    /// Its JSON line.
    pub line: String,
}

/// What the report needs from a history.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Fault windows in start order.
    pub faults: Vec<FaultWindow>,
    /// Client operations, thinned to at most `MAX_SPANS`.
    pub spans: Vec<Span>,
    /// Keep every `stride`-th operation: 1 unless the history was thinned.
    pub stride: usize,
    /// Client operations completed, per second of the run.
    pub throughput: Vec<Bucket>,
    /// The run's length in seconds (the last operation's time).
    pub duration: f64,
    /// The requested witness operations, by index.
    pub witnesses: BTreeMap<u64, Witnessing>,
    /// Gateway charges captured, declined by the card, and failed by the gateway
    /// (an error before capture, an outage).
    pub charges: (u64, u64, u64),
    /// The header's scheduled steps that no nemesis `start` performed.
    pub never_started: Vec<ScheduledStep>,
    /// When the recovery phase began, in seconds, if it did.
    pub recovery: Option<f64>,
    /// What the sentinels said about the master, in history order, at most `MAX_MARKS`.
    pub sentinel: Vec<SentinelMark>,
    /// Sentinel events beyond `MAX_MARKS`, not marked.
    pub sentinel_unmarked: u64,
    /// The operations of the first register found not linearizable, around the one
    /// that could not be placed (a second pass over the history, only then).
    pub register: Option<super::register::KeyTimeline>,
}

/// Reads `input` once, keeping the operations with indices in `witnesses` verbatim.
pub fn summarize<R: BufRead>(input: R, witnesses: &BTreeSet<u64>) -> Result<Summary, ReadError> {
    let mut summary = Summary { stride: 1, ..Summary::default() };
    let mut pending: HashMap<Process, (f64, u64)> = HashMap::new();
    let mut open_faults: HashMap<u32, usize> = HashMap::new();
    let mut seen = 0usize;
    let reader = HistoryReader::new(input)?;
    let schedule = reader.header().meta.get("schedule").cloned();
    let mut steps: Vec<ScheduledStep> =
        schedule.and_then(|s| serde_json::from_value(s).ok()).unwrap_or_default();
    for op in reader {
        let op = op?;
        let time = op.time as f64 / 1e9;
        summary.duration = summary.duration.max(time);
        if witnesses.contains(&op.index) {
            let mut line = Vec::new();
            format::write_op(&op, &mut line);
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            summary.witnesses.insert(op.index, Witnessing { time, line });
        }
        match (op.process, &op.value) {
            (Process::Nemesis, Value::Fault(event)) => match (&op.f, op.kind) {
                (F::Start, OpType::Invoke) => {
                    open_faults.insert(event.id, summary.faults.len());
                    summary.faults.push(FaultWindow {
                        fault: event.fault.clone(),
                        targets: event.targets.clone(),
                        start: time,
                        end: None,
                        observed: None,
                        step: event.step,
                        declared: None,
                    });
                }
                (F::Start, _) => {
                    if let Some(&i) = open_faults.get(&event.id) {
                        summary.faults[i].observed = event.observed;
                    }
                    // As the `faults` checker counts it: a step started when its start
                    // completed without error, performing the schedule's fault.
                    if op.error.is_none() {
                        steps.retain(|s| Some(s.step) != event.step || s.fault != event.fault);
                    }
                }
                (F::Heal, kind) if kind != OpType::Invoke => {
                    if let Some(i) = open_faults.remove(&event.id) {
                        summary.faults[i].end = Some(time);
                        summary.faults[i].declared = declared(event);
                        // Some faults are judged only at the heal; the latest judgement stands.
                        summary.faults[i].observed = event.observed.or(summary.faults[i].observed);
                    }
                }
                _ => {}
            },
            (Process::Harness, Value::Phase(_)) => summary.recovery = Some(time),
            (Process::Sentinel, _) => mark(&mut summary, &op, time),
            (Process::Gateway, _) if op.f == F::Charge => match op.kind {
                OpType::Ok => summary.charges.0 += 1,
                OpType::Fail if op.is_card_decline() => summary.charges.1 += 1,
                OpType::Fail => summary.charges.2 += 1,
                _ => {}
            },
            (Process::Client(p), _) if op.kind == OpType::Invoke => {
                pending.insert(Process::Client(p), (time, op.index));
            }
            (Process::Client(p), _) => {
                let Some((start, _)) = pending.remove(&Process::Client(p)) else { continue };
                count(&mut summary.throughput, time, op.kind);
                seen += 1;
                if seen.is_multiple_of(summary.stride) {
                    let f = op.f.as_str().to_string();
                    summary.spans.push(Span {
                        process: p,
                        f,
                        kind: op.kind,
                        start,
                        end: time,
                        index: op.index,
                    });
                    thin(&mut summary);
                }
            }
            _ => {}
        }
    }
    summary.never_started = steps;
    Ok(summary)
}

fn mark(summary: &mut Summary, op: &checkers::history::Op, time: f64) {
    let Some(event) = SentinelEvent::of(op) else { return };
    let Some(said) = Said::of(event) else { return };
    match summary.sentinel.len() < MAX_MARKS {
        true => {
            summary.sentinel.push(SentinelMark { sentinel: event.sentinel.clone(), time, said })
        }
        false => summary.sentinel_unmarked += 1,
    }
}

fn declared(event: &checkers::history::FaultEvent) -> Option<String> {
    let effect = event.effect.as_ref()?;
    effect.get("declared").and_then(|d| d.as_str()).map(str::to_string)
}

fn count(buckets: &mut Vec<Bucket>, time: f64, kind: OpType) {
    let second = time as usize;
    if buckets.len() <= second {
        buckets.resize(second + 1, Bucket::default());
    }
    let bucket = &mut buckets[second];
    match kind {
        OpType::Ok => bucket.ok += 1,
        OpType::Fail => bucket.fail += 1,
        OpType::Info => bucket.info += 1,
        OpType::Invoke => {}
    }
}

fn thin(summary: &mut Summary) {
    if summary.spans.len() > MAX_SPANS {
        let mut keep = false;
        summary.spans.retain(|_| {
            keep = !keep;
            keep
        });
        summary.stride *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::format::{Header, write_op};
    use checkers::history::{AccountOp, FaultEvent, Op};

    fn op(index: u64, ms: u64, process: Process, kind: OpType, f: F, value: Value) -> Op {
        Op { index, time: ms * 1_000_000, process, kind, f, value, error: None }
    }

    fn history(ops: &[Op]) -> Vec<u8> {
        let schedule = serde_json::json!([
            {"step": 0, "fault": "kill", "at": 500_000_000u64, "duration": null},
            {"step": 1, "fault": "pause", "at": 9_000_000_000u64, "duration": null},
        ]);
        let meta = serde_json::Map::from_iter([("schedule".to_string(), schedule)]);
        let mut out = serde_json::to_vec(&Header::new(meta)).unwrap();
        out.push(b'\n');
        ops.iter().for_each(|op| write_op(op, &mut out));
        out
    }

    #[test]
    fn a_history_yields_fault_windows_spans_throughput_and_witnesses() {
        let debit = || Value::Account(AccountOp { account: 1, amount: Some(5), balance: None });
        let fault = |id, observed| {
            let event = FaultEvent {
                id,
                fault: "kill".into(),
                targets: vec!["redis-0".into()],
                effect: None,
                observed,
                step: (id == 1).then_some(0),
            };
            Value::Fault(event)
        };
        let declaring = |id| {
            let Value::Fault(mut event) = fault(id, None) else { unreachable!() };
            event.effect = Some(serde_json::json!({"declared": "rolled back"}));
            Value::Fault(event)
        };
        let recovery = Value::Phase(checkers::history::Phase {
            phase: checkers::history::PhaseName::Recovery,
        });
        let ops = [
            op(0, 100, Process::Client(0), OpType::Invoke, F::Debit, debit()),
            op(1, 500, Process::Nemesis, OpType::Invoke, F::Start, fault(1, None)),
            op(2, 600, Process::Nemesis, OpType::Info, F::Start, fault(1, Some(true))),
            op(3, 1200, Process::Client(0), OpType::Info, F::Debit, debit()),
            op(4, 2500, Process::Nemesis, OpType::Invoke, F::Heal, fault(1, None)),
            op(5, 2600, Process::Nemesis, OpType::Info, F::Heal, declaring(1)),
            op(6, 2700, Process::Nemesis, OpType::Invoke, F::Start, fault(2, None)),
            op(7, 2800, Process::Nemesis, OpType::Info, F::Start, fault(2, None)),
            op(8, 2900, Process::Nemesis, OpType::Invoke, F::Heal, fault(2, None)),
            op(9, 3000, Process::Nemesis, OpType::Info, F::Heal, fault(2, Some(false))),
            op(10, 3100, Process::Harness, OpType::Ok, F::Phase, recovery),
        ];
        let summary = summarize(&history(&ops)[..], &BTreeSet::from([3])).unwrap();
        assert_eq!(summary.faults.len(), 2);
        assert_eq!((summary.faults[0].start, summary.faults[0].end), (0.5, Some(2.6)));
        assert_eq!(summary.faults[0].observed, Some(true));
        assert_eq!(summary.faults[1].observed, Some(false), "judged at the heal");
        assert_eq!((summary.faults[0].step, summary.faults[1].step), (Some(0), None));
        assert_eq!(summary.faults[0].declared.as_deref(), Some("rolled back"));
        let never: Vec<(u32, &str)> =
            summary.never_started.iter().map(|s| (s.step, s.fault.as_str())).collect();
        assert_eq!(never, [(1, "pause")]);
        assert_eq!(summary.recovery, Some(3.1));
        assert_eq!(summary.spans.len(), 1);
        assert_eq!(
            (summary.spans[0].start, summary.spans[0].end, summary.spans[0].kind),
            (0.1, 1.2, OpType::Info)
        );
        assert_eq!(summary.throughput, vec![Bucket::default(), Bucket { ok: 0, fail: 0, info: 1 }]);
        assert!(summary.witnesses[&3].line.contains("\"index\":3"));
        assert_eq!(summary.witnesses[&3].time, 1.2);
        assert_eq!(summary.duration, 3.1);
    }

    #[test]
    fn what_sentinels_said_about_the_master_is_marked_and_the_rest_left_out() {
        let said = |sentinel: &str, event: &str, detail: &str, master: Option<&str>| {
            Value::Sentinel(SentinelEvent {
                sentinel: sentinel.into(),
                event: event.into(),
                detail: detail.into(),
                master: master.map(Into::into),
            })
        };
        let (m, s) = ("master faultline 172.18.0.2 6379", "slave 172.18.0.3:6379 172.18.0.3 6379");
        let switch = "faultline 172.18.0.2 6379 172.18.0.3 6379";
        let events = [
            said("sentinel-0", "+sdown", m, None),
            said("sentinel-1", "+sdown", s, None),
            said("sentinel-1", "+odown", m, None),
            said("sentinel-1", "+try-failover", m, None),
            said("sentinel-2", "+switch-master", switch, Some("redis-1")),
            said("sentinel-1", "+convert-to-slave", s, None),
        ];
        let ops: Vec<Op> = events
            .into_iter()
            .enumerate()
            .map(|(i, v)| op(i as u64, 1000 * i as u64, Process::Sentinel, OpType::Ok, F::Event, v))
            .collect();
        let summary = summarize(&history(&ops)[..], &BTreeSet::new()).unwrap();
        let marks: Vec<(&str, f64, &Said)> =
            summary.sentinel.iter().map(|m| (m.sentinel.as_str(), m.time, &m.said)).collect();
        let to = Said::SwitchMaster(Some("redis-1".into()));
        assert_eq!(
            marks,
            [
                ("sentinel-0", 0.0, &Said::SubjectivelyDown),
                ("sentinel-1", 2.0, &Said::ObjectivelyDown),
                ("sentinel-2", 4.0, &to),
                ("sentinel-1", 5.0, &Said::ConvertToReplica),
            ]
        );
    }
}
