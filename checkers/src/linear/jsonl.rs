//! Register operations of a faultline history (JSON lines, [`crate::format`]).
//!
//! Client operations whose `f` is `read`, `write` or `cas` with a register value
//! (`{"key":3,...}`) are paired by process, in the file's order; everything else (the
//! nemesis, the harness, billing operations) is skipped. Outcomes, as common to every
//! faultline checker:
//!
//! - `ok`: it took effect; a read's `value` is what it saw (`null`: nothing);
//! - `fail` of a `cas` with error `mismatch`: the register did not hold the expected value
//!   ([`RegOutput::Failed`](super::RegOutput::Failed), a definite outcome that reads it);
//! - any other `fail` (`READONLY`, connection refused): it did not happen, and is dropped;
//! - `info`, or no completion at all: unknown.
//!
//! Real-time order is the file's order (faultline records operations in time order). A
//! last line cut short while being written is ignored, as everywhere in faultline: the
//! operation it would have completed stays unknown.

use super::formats::{Completion, Pairing, RegHistory};
use super::{ReadError, RegInput};
use crate::format::{self, HistoryReader};
use crate::history::{F, MISMATCH, Op, OpType, Process, RegisterOp, Value};

/// Reads the register operations of a faultline history.
pub fn read(text: &str) -> Result<RegHistory, ReadError> {
    let mut reader = HistoryReader::new(text.as_bytes()).map_err(from_format)?;
    let mut pairing = Pairing::default();
    while let Some((line, op)) = reader.next_op().map_err(from_format)? {
        take(&mut pairing, line as usize, op)?;
    }
    Ok(pairing.finish())
}

fn take(pairing: &mut Pairing, line: usize, op: &Op) -> Result<(), ReadError> {
    let Process::Client(process) = op.process else {
        return Ok(());
    };
    let process = u64::from(process);
    let register = match &op.value {
        Value::Register(r) => Some(r),
        _ => None,
    };
    match (op.kind, &op.f) {
        (OpType::Invoke, F::Read | F::Write | F::Cas) => match register {
            Some(r) => pairing.invoke(line, process, r.key.to_string(), input(line, &op.f, r)?),
            None => Ok(()),
        },
        (OpType::Ok, F::Read) if register.is_none() && pairing.is_open(process) => {
            // Taken as a nil read, it could make a linearizable register look not.
            Err(ReadError {
                line,
                message: "a completed read without a register value: expected \
                          {\"key\":K,\"value\":V} (V null: nothing)"
                    .into(),
            })
        }
        (_, F::Read | F::Write | F::Cas) if register.is_some() || pairing.is_open(process) => {
            let key = register.map(|r| r.key.to_string());
            pairing.complete(line, process, op.f.as_str(), key.as_deref(), completion(op, register))
        }
        _ => Ok(()),
    }
}

fn input(line: usize, f: &F, r: &RegisterOp) -> Result<RegInput, ReadError> {
    let missing = |what: &str| ReadError {
        line,
        message: format!("a register {} without {what}: expected {{\"key\":K,{what}}}", f.as_str()),
    };
    Ok(match f {
        F::Read => RegInput::Read,
        F::Write => RegInput::Write(r.value.ok_or_else(|| missing("\"value\":V"))?),
        _ => {
            let [expect, new] = r.cas.ok_or_else(|| missing("\"cas\":[FROM,TO]"))?;
            RegInput::Cas { expect, new }
        }
    })
}

fn completion(op: &Op, register: Option<&RegisterOp>) -> Completion {
    match op.kind {
        OpType::Ok => Completion::Ok(register.and_then(|r| r.value)),
        OpType::Fail if op.f == F::Cas && op.error.as_deref() == Some(MISMATCH) => {
            Completion::Mismatch
        }
        OpType::Fail => Completion::DidNotHappen,
        OpType::Info | OpType::Invoke => Completion::Unknown,
    }
}

fn from_format(e: format::ReadError) -> ReadError {
    let line = match &e {
        format::ReadError::Malformed { line, .. } => *line as usize,
        _ => 1,
    };
    let message = e.to_string();
    let message = message.strip_prefix(&format!("line {line}: ")).unwrap_or(&message).to_owned();
    ReadError { line, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::formats::{Lines, SINGLE_KEY};
    use crate::linear::{RegOp, RegOutput};

    const HEADER: &str = "{\"schema\":\"faultline.history/1\",\"workload\":\"register\"}\n";

    fn history(ops: &[&str]) -> String {
        let mut text = HEADER.to_owned();
        for (i, op) in ops.iter().enumerate() {
            text.push_str(&format!("{{\"index\":{i},\"time\":{i},{op}}}\n"));
        }
        text
    }

    fn ops(h: &RegHistory) -> Vec<(&str, RegInput, Option<RegOutput>, bool)> {
        h.ops.iter().map(|(k, op)| (k.as_str(), op.input, op.output, op.ret.is_some())).collect()
    }

    #[test]
    fn register_operations_are_paired_by_process_and_the_rest_skipped() {
        let text = history(&[
            r#""process":0,"type":"invoke","f":"write","value":{"key":3,"value":5}"#,
            r#""process":"nemesis","type":"info","f":"start","value":{"fault":"kill","id":1}"#,
            r#""process":1,"type":"invoke","f":"read","value":{"key":3}"#,
            r#""process":0,"type":"ok","f":"write","value":{"key":3,"value":5}"#,
            r#""process":1,"type":"ok","f":"read","value":{"key":3,"value":null}"#,
            r#""process":2,"type":"invoke","f":"cas","value":{"key":4,"cas":[1,2]}"#,
            r#""process":2,"type":"fail","f":"cas","value":{"key":4,"cas":[1,2]},"error":"mismatch""#,
            r#""process":2,"type":"invoke","f":"cas","value":{"key":4,"cas":[2,3]}"#,
            r#""process":2,"type":"fail","f":"cas","value":{"key":4,"cas":[2,3]},"error":"READONLY""#,
            r#""process":2,"type":"invoke","f":"write","value":{"key":4,"value":7}"#,
            r#""process":2,"type":"info","f":"write","value":{"key":4,"value":7},"error":"timeout""#,
            r#""process":0,"type":"invoke","f":"read","value":{"key":3}"#,
        ]);
        let h = read(&text).unwrap();
        #[rustfmt::skip]
        assert_eq!(ops(&h), [
            ("3", RegInput::Write(5), Some(RegOutput::Ok), true),
            ("3", RegInput::Read, Some(RegOutput::Value(None)), true),
            ("4", RegInput::Cas { expect: 1, new: 2 }, Some(RegOutput::Failed), true),
            ("4", RegInput::Write(7), None, false),
            ("3", RegInput::Read, None, false),
        ]);
        assert_eq!(h.lines[0], Lines { call: 2, ret: Some(5) });
        assert_eq!(h.lines[3], Lines { call: 11, ret: Some(12) });
        assert_eq!(h.lines[4], Lines { call: 13, ret: None });
        // Real-time order is the file's: the write returned before the read.
        let (_, RegOp { ret: Some(wrote), .. }) = &h.ops[0] else { panic!() };
        let (_, read) = &h.ops[1];
        assert!(read.call < *wrote && read.ret > Some(*wrote));
        assert!(h.ops.iter().all(|(k, _)| k != SINGLE_KEY));
    }

    #[test]
    fn a_malformed_line_is_an_error_naming_it() {
        let text =
            history(&[r#""process":0,"type":"invoke","f":"write","value":{"key":3,"value":5}"#])
                + "{\"index\":\"one\"}\n";
        let err = read(&text).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.starts_with("expected an operation"), "{err}");
        assert_eq!(read("{\"schema\":\"other\"}\n").unwrap_err().line, 1);
    }

    #[test]
    fn a_read_completed_without_a_register_value_is_an_error() {
        let text = history(&[
            r#""process":0,"type":"invoke","f":"read","value":{"key":3}"#,
            r#""process":0,"type":"ok","f":"read","value":5"#,
        ]);
        let err = read(&text).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.starts_with("a completed read without a register value"), "{err}");
    }

    #[test]
    fn a_write_without_a_value_is_an_error() {
        let text = history(&[r#""process":0,"type":"invoke","f":"write","value":{"key":3}"#]);
        let err = read(&text).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("expected {\"key\":K,\"value\":V}"), "{err}");
    }
}
