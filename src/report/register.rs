//! The timeline of a register that is not linearizable: the key's operations around
//! the operation the search could not place, one lane per process, that operation
//! outlined in red and the last ones the search could order before it in black.
//!
//! The key is the first `not-linearizable` anomaly's subject. Its witnesses are the
//! last operations of the longest orderable prefix, then the stuck operation's
//! invocation and completion (last): the window drawn runs from the earliest witness's
//! invocation to the stuck operation's completion, at most [`MAX_OPS`] operations, the
//! latest kept.

use super::plots;
use super::summary::FaultWindow;
use checkers::Report;
use checkers::format::{HistoryReader, ReadError};
use checkers::history::{F, OpType, Process, RegisterOp, Value};
use checkers::verdict::{AnomalyKind, Subject};
use plotters::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;

/// At most this many operations of the key are drawn.
pub const MAX_OPS: usize = 80;

const STUCK: RGBColor = RGBColor(200, 20, 20);

/// What to draw: the key, and the operations its anomaly points at.
#[derive(Clone, Debug, PartialEq)]
pub struct Focus {
    /// The register.
    pub key: u64,
    /// Indices of the witnesses (invocations and completions).
    pub witnesses: BTreeSet<u64>,
    /// The stuck operation's completion index.
    pub stuck: u64,
}

/// One operation of the key, from invocation to completion.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyOp {
    /// The process.
    pub process: u32,
    /// Seconds since the run started.
    pub start: f64,
    /// Its completion, in seconds; `None` while it never completed or ended `info`.
    pub end: Option<f64>,
    /// How it completed (`Invoke` if it never did).
    pub kind: OpType,
    /// What it did, short: `w 3`, `r 4`, `cas 1→2`.
    pub label: String,
    /// Whether the anomaly names it as a witness.
    pub witness: bool,
    /// Whether it is the operation the search could not place.
    pub stuck: bool,
}

/// The key's operations in the window, in invocation order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyTimeline {
    /// The register.
    pub key: u64,
    /// Its operations drawn.
    pub ops: Vec<KeyOp>,
    /// Operations of the key in the window left out beyond [`MAX_OPS`].
    pub left_out: usize,
}

/// The first `not-linearizable` anomaly's key and witnesses, if the report has one.
pub fn focus(report: &Report) -> Option<Focus> {
    let groups = report.results.iter().flat_map(|r| r.verdict.anomalies());
    let group = groups.into_iter().find(|g| g.kind == AnomalyKind::NotLinearizable)?;
    let Subject::Register(key) = group.first.subject else { return None };
    let stuck = *group.first.ops.last()?;
    Some(Focus { key, witnesses: group.first.ops.iter().copied().collect(), stuck })
}

fn label(f: &F, r: &RegisterOp, completion: Option<&RegisterOp>) -> String {
    let show = |v: Option<i64>| v.map_or_else(|| "nil".into(), |v| v.to_string());
    match (f, r.cas) {
        (_, Some([expect, new])) => format!("cas {expect}→{new}"),
        (F::Write, _) => format!("w {}", show(r.value)),
        _ => match completion {
            Some(done) => format!("r {}", show(done.value)),
            None => "r ?".into(),
        },
    }
}

/// Reads the key's operations in the focus's window from a history.
pub fn collect<R: BufRead>(input: R, focus: &Focus) -> Result<KeyTimeline, ReadError> {
    let mut pending: HashMap<u32, (f64, u64, F, RegisterOp)> = HashMap::new();
    let mut ops: Vec<(u64, KeyOp)> = Vec::new();
    for op in HistoryReader::new(input)? {
        let op = op?;
        let (Process::Client(p), Value::Register(r)) = (op.process, &op.value) else { continue };
        let time = op.time as f64 / 1e9;
        if op.kind == OpType::Invoke {
            if r.key == focus.key {
                pending.insert(p, (time, op.index, op.f.clone(), r.clone()));
            }
            continue;
        }
        let Some((start, invoked, f, args)) = pending.remove(&p) else { continue };
        let done = (op.kind == OpType::Ok).then_some(r);
        let witness = focus.witnesses.contains(&invoked) || focus.witnesses.contains(&op.index);
        let end = (op.kind != OpType::Info).then_some(time);
        let label = label(&f, &args, done);
        let stuck = op.index == focus.stuck;
        ops.push((invoked, KeyOp { process: p, start, end, kind: op.kind, label, witness, stuck }));
        if stuck {
            break;
        }
    }
    let unfinished = pending.into_iter().map(|(p, (start, invoked, f, args))| {
        let label = label(&f, &args, None);
        // Not completed by the stuck operation's end: drawn as running to the window's end.
        let kind = OpType::Info;
        let op = KeyOp { process: p, start, end: None, kind, label, witness: false, stuck: false };
        (invoked, op)
    });
    ops.extend(unfinished);
    ops.sort_by_key(|(invoked, _)| *invoked);
    // In the window: running at or after the earliest witness's invocation.
    let start_of =
        ops.iter().filter(|(_, o)| o.witness).map(|(_, o)| o.start).fold(f64::MAX, f64::min);
    ops.retain(|(_, o)| o.end.is_none_or(|end| end >= start_of));
    let left_out = ops.len().saturating_sub(MAX_OPS);
    let ops = ops.into_iter().skip(left_out).map(|(_, o)| o).collect();
    Ok(KeyTimeline { key: focus.key, ops, left_out })
}

/// The key's operations as bars, one lane per process, each labelled with what it did,
/// with fault windows shaded.
pub fn plot(timeline: &KeyTimeline, faults: &[FaultWindow]) -> Result<String, String> {
    let mut lanes: Vec<u32> = timeline.ops.iter().map(|o| o.process).collect();
    lanes.sort_unstable();
    lanes.dedup();
    let lane = |p: u32| lanes.binary_search(&p).unwrap_or(0) as f64;
    let first = timeline.ops.iter().map(|o| o.start).fold(f64::INFINITY, f64::min);
    let last = timeline.ops.iter().map(|o| o.end.unwrap_or(o.start)).fold(first, f64::max);
    let (first, last) = if first.is_finite() { (first, last) } else { (0.0, 1.0) };
    let pad = ((last - first) * 0.05).max(0.001);
    let (x0, x1) = (first - pad, last + pad);
    let rows = lanes.len().max(1) as f64;
    let height = (70 + 26 * lanes.len() as u32).clamp(140, 900);
    plots::draw(height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, -0.5f64..rows - 0.5)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_labels(lanes.len().max(1))
            .y_label_formatter(&|y| {
                lanes.get(y.round() as usize).map_or_else(String::new, |p| format!("process {p}"))
            })
            .disable_y_mesh()
            .draw()
            .map_err(|e| e.to_string())?;
        let windows = faults.iter().filter(|w| w.start < x1 && w.end.is_none_or(|end| end > x0));
        let clipped: Vec<FaultWindow> =
            windows.map(|w| FaultWindow { start: w.start.max(x0), ..w.clone() }).collect();
        plots::shade(&mut chart, &clipped, x1, (-0.5, rows - 0.5))?;
        let bar = |o: &KeyOp| {
            let y = lane(o.process);
            let end = o.end.unwrap_or(x1).max(o.start + (x1 - x0) / 150.0);
            [(o.start, y - 0.3), (end, y + 0.3)]
        };
        let fills =
            timeline.ops.iter().map(|o| Rectangle::new(bar(o), plots::color(o.kind).filled()));
        chart.draw_series(fills).map_err(|e| e.to_string())?;
        let outlined = timeline.ops.iter().filter(|o| o.witness || o.stuck).map(|o| {
            let style = if o.stuck { STUCK.stroke_width(3) } else { BLACK.stroke_width(2) };
            Rectangle::new(bar(o), style)
        });
        chart.draw_series(outlined).map_err(|e| e.to_string())?;
        let labels = timeline.ops.iter().map(|o| {
            Text::new(o.label.clone(), (o.start, lane(o.process) + 0.45), ("sans-serif", 12))
        });
        chart.draw_series(labels).map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = r#"{"schema":"faultline.history/1","workload":"register"}
{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":{"key":7,"value":2}}
{"index":1,"time":1000000,"process":0,"type":"ok","f":"write","value":{"key":7,"value":2}}
{"index":2,"time":2000000,"process":1,"type":"invoke","f":"write","value":{"key":3,"value":4}}
{"index":3,"time":3000000,"process":2,"type":"invoke","f":"cas","value":{"key":7,"cas":[2,3]}}
{"index":4,"time":4000000,"process":1,"type":"ok","f":"write","value":{"key":3,"value":4}}
{"index":5,"time":5000000,"process":2,"type":"info","f":"cas","value":{"key":7,"cas":[2,3]},"error":"timed out"}
{"index":6,"time":6000000,"process":1,"type":"invoke","f":"read","value":{"key":7}}
{"index":7,"time":7000000,"process":1,"type":"ok","f":"read","value":{"key":7,"value":null}}
"#;

    #[test]
    fn the_keys_operations_are_drawn_with_the_stuck_one_and_witnesses_marked() {
        let focus = Focus { key: 7, witnesses: BTreeSet::from([0, 1, 6, 7]), stuck: 7 };
        let timeline = collect(HISTORY.as_bytes(), &focus).expect("a readable history");
        let labels: Vec<(&str, bool, bool, Option<f64>)> =
            timeline.ops.iter().map(|o| (o.label.as_str(), o.witness, o.stuck, o.end)).collect();
        assert_eq!(
            labels,
            vec![
                ("w 2", true, false, Some(0.001)),
                ("cas 2→3", false, false, None),
                ("r nil", true, true, Some(0.007)),
            ]
        );
        let svg = plot(&timeline, &[]).expect("drawn");
        for text in ["w 2", "cas 2→3", "r nil", "process 0", "process 2"] {
            assert!(svg.contains(text), "{text} is drawn");
        }
    }
}
