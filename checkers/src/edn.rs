//! Export to Jepsen's EDN history shape, to cross-check faultline's verdicts with
//! Jepsen's own tools (`elle-cli`, Knossos).
//!
//! Each operation becomes one EDN map on one line, as in Jepsen's `history.edn`:
//!
//! ```text
//! {:index 0, :time 1200, :type :invoke, :process 3, :f :debit, :value {:account 7, :amount 3}}
//! {:index 9, :time 99000, :type :info, :process :nemesis, :f :start, :value {:fault "kill", :id 1, :targets ["redis-0"]}}
//! ```
//!
//! Clients are integers; the nemesis, gateway, monitor, harness and sentinel are keywords. Map
//! keys become keywords, in sorted order; JSON `null` becomes `nil`.

use crate::history::{Op, OpType, Process};
use serde_json::Value as Json;
use std::fmt::Write;

/// Appends one operation as an EDN map, newline included, to `out`.
pub fn write_op(op: &Op, out: &mut String) {
    let _ =
        write!(out, "{{:index {}, :time {}, :type {}, :process ", op.index, op.time, kind(op.kind));
    match op.process {
        Process::Client(p) => {
            let _ = write!(out, "{p}");
        }
        other => keyword(process_name(other), out),
    }
    out.push_str(", :f ");
    keyword(op.f.as_str(), out);
    out.push_str(", :value ");
    let value = serde_json::to_value(&op.value).expect("a Value always converts to JSON");
    write_value(&value, out);
    if let Some(error) = &op.error {
        out.push_str(", :error ");
        string(error, out);
    }
    out.push_str("}\n");
}

fn kind(kind: OpType) -> &'static str {
    match kind {
        OpType::Invoke => ":invoke",
        OpType::Ok => ":ok",
        OpType::Fail => ":fail",
        OpType::Info => ":info",
    }
}

fn process_name(p: Process) -> &'static str {
    match p {
        Process::Client(_) => "client",
        Process::Nemesis => "nemesis",
        Process::Gateway => "gateway",
        Process::Monitor => "monitor",
        Process::Harness => "harness",
        Process::Sentinel => "sentinel",
    }
}

fn write_value(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("nil"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                keyword(k, out);
                out.push(' ');
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

/// A keyword when `name` is a valid one, else a string.
fn keyword(name: &str, out: &mut String) {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.?!*+".contains(c));
    if valid {
        out.push(':');
        out.push_str(name);
    } else {
        string(name, out);
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{F, Observed};
    use crate::testkit::*;

    fn edn(op: &Op) -> String {
        let mut out = String::new();
        write_op(op, &mut out);
        out
    }

    #[test]
    fn client_operations_become_jepsen_maps() {
        let op = Op { index: 4, time: 90, ..ok(3, reporting(debit(7, 3), 497)) };
        let expected = "{:index 4, :time 90, :type :ok, :process 3, :f :debit, \
                        :value {:account 7, :amount 3, :balance 497}}\n";
        assert_eq!(edn(&op), expected);
        let expected = "{:index 0, :time 0, :type :info, :process 3, :f :read, :value {:account 7}, \
                        :error \"timeout\"}\n";
        assert_eq!(edn(&info(3, read(7))), expected);
    }

    #[test]
    fn harness_processes_become_keywords_and_null_nil() {
        let expected = "{:index 0, :time 0, :type :info, :process :nemesis, :f :start, \
                        :value {:fault \"kill\", :id 1, :targets []}}\n";
        assert_eq!(edn(&nemesis(OpType::Info, F::Start, 1)), expected);
        let fin = fin(7, Observed::Missing, Observed::Error("READONLY \"x\"".into()), None, &[4]);
        let expected = "{:index 0, :time 0, :type :ok, :process :harness, :f :final, :value {:account 7, \
                        :credited [4], :in_flight nil, :ledger {:error \"READONLY \\\"x\\\"\"}}}\n";
        assert_eq!(edn(&fin), expected);
        assert_eq!(
            edn(&invoke(0, nil(F::Read))),
            "{:index 0, :time 0, :type :invoke, :process 0, :f :read, :value nil}\n"
        );
    }

    #[test]
    fn probes_settle_phases_attributed_charges_entry_sums_and_steps_are_exported() {
        use crate::history::{Charge, FaultEvent, Phase, PhaseName, Value};
        let harness = |kind, f, value| Op {
            index: 5,
            time: 60,
            process: Process::Harness,
            kind,
            f,
            value,
            error: None,
        };
        let phase = Value::Phase(Phase { phase: PhaseName::Recovery });
        assert_eq!(
            edn(&harness(OpType::Ok, F::Phase, phase)),
            "{:index 5, :time 60, :type :ok, :process :harness, :f :phase, :value {:phase \"recovery\"}}\n"
        );
        let settle =
            Op { error: Some("timeout".into()), ..harness(OpType::Info, F::Settle, Value::Nil) };
        assert_eq!(
            edn(&settle),
            "{:index 5, :time 60, :type :info, :process :harness, :f :settle, :value nil, :error \"timeout\"}\n"
        );
        let probe =
            Op { process: Process::Monitor, ..harness(OpType::Invoke, F::Probe, Value::Nil) };
        assert_eq!(
            edn(&probe),
            "{:index 5, :time 60, :type :invoke, :process :monitor, :f :probe, :value nil}\n"
        );
        let charge =
            Charge { charge: 9, account: 7, amount: 500, key: None, op: Some(3), answer: None };
        let charge = Op {
            process: Process::Gateway,
            ..harness(OpType::Ok, F::Charge, Value::Charge(charge))
        };
        assert_eq!(
            edn(&charge),
            "{:index 5, :time 60, :type :ok, :process :gateway, :f :charge, \
             :value {:account 7, :amount 500, :charge 9, :op 3}}\n"
        );
        let fault = FaultEvent {
            id: 1,
            fault: "kill".into(),
            targets: vec![],
            effect: None,
            observed: None,
            step: Some(2),
        };
        let start = Op {
            process: Process::Nemesis,
            ..harness(OpType::Invoke, F::Start, Value::Fault(fault))
        };
        assert_eq!(
            edn(&start),
            "{:index 5, :time 60, :type :invoke, :process :nemesis, :f :start, \
             :value {:fault \"kill\", :id 1, :step 2, :targets []}}\n"
        );
        let mut fin = fin(7, Observed::Balance(5), Observed::Balance(5), Some(false), &[4, 4]);
        if let Value::Final(state) = &mut fin.value {
            state.entries = Some(Observed::Balance(4));
        }
        let expected = "{:index 0, :time 0, :type :ok, :process :harness, :f :final, :value {:account 7, \
                        :credited [4 4], :entries 4, :in_flight 5, :ledger 5, :suspended false}}\n";
        assert_eq!(edn(&fin), expected);
    }

    #[test]
    fn sentinel_events_are_exported_with_the_sentinel_as_a_keyword() {
        let switch = sentinel("sentinel-1", "+switch-master", Some("redis-1"));
        assert_eq!(
            edn(&switch),
            "{:index 0, :time 0, :type :ok, :process :sentinel, :f :event, :value {:detail \
             \"faultline 172.18.0.2 6379 172.18.0.3 6379\", :event \"+switch-master\", \
             :master \"redis-1\", :sentinel \"sentinel-1\"}}\n"
        );
    }
}
