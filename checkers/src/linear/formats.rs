//! Register histories read from files: faultline's JSON lines ([`jsonl`](super::jsonl)),
//! Jepsen's EDN ([`edn`](super::edn)) and Jepsen's text logs
//! ([`jepsen`](super::jepsen)), told apart by [`Format::detect`] and read by [`read`].
//!
//! Every reader yields a [`RegHistory`]: keyed operations (the key a `String`, since EDN
//! keys may be strings; a history of one register uses [`SINGLE_KEY`]) with `call` and
//! `ret` in event order, and for each operation the lines it came from, so a verdict can
//! point into the file.

use super::{KeyedOp, ReadError, RegInput, RegOp, RegOutput};
use std::collections::BTreeMap;

/// The key of every operation in a history of a single register.
pub const SINGLE_KEY: &str = "register";

/// Where an operation was written in its file (lines counted from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lines {
    /// The invocation's line.
    pub call: usize,
    /// The completion's line (an `info` one included); `None` when the file ends with
    /// the operation still open.
    pub ret: Option<usize>,
}

/// A register operation on a key, as the readers produce it.
pub type KeyedRegOp = KeyedOp<String, RegInput, RegOutput>;

/// A register history as read from a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegHistory {
    /// The operations, in invocation order.
    pub ops: Vec<KeyedRegOp>,
    /// For each operation, where it was written.
    pub lines: Vec<Lines>,
}

/// A history file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// faultline's JSON lines (first line `{"schema":...}`).
    Jsonl,
    /// Jepsen's EDN: one map per line, or one vector of maps.
    Edn,
    /// Jepsen's text log, as Knossos' and Porcupine's test data keep it
    /// (`INFO  jepsen.util - 3 :invoke :write 4`).
    JepsenLog,
}

impl Format {
    /// The format of `text`, from its first line that is neither blank nor an EDN
    /// comment: JSON lines if it opens with `{"`, EDN if with `{:` or `[`, a Jepsen
    /// log if any line is a `jepsen.util` operation line. `None` when none fits.
    pub fn detect(text: &str) -> Option<Format> {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with(';'))?;
        if first.starts_with("{\"") {
            Some(Format::Jsonl)
        } else if first.starts_with("{:") || first.starts_with('[') {
            Some(Format::Edn)
        } else {
            text.lines().any(is_jepsen_op_line).then_some(Format::JepsenLog)
        }
    }
}

/// Whether a line has the shape of jepsen.util's operation lines:
/// `jepsen.util - <process> :<type> ...`.
fn is_jepsen_op_line(line: &str) -> bool {
    let Some((_, rest)) = line.split_once("jepsen.util - ") else {
        return false;
    };
    let mut words = rest.split_whitespace();
    words.next().is_some_and(|p| p.parse::<u64>().is_ok())
        && words.next().is_some_and(|t| t.starts_with(':'))
}

/// Reads a register history in whichever format `text` is in.
pub fn read(text: &str) -> Result<(Format, RegHistory), ReadError> {
    if text.trim().is_empty() {
        let message = "the file is empty: expected a history".to_owned();
        return Err(ReadError { line: 1, message });
    }
    let format = Format::detect(text).ok_or_else(|| ReadError {
        line: 1,
        message: "unrecognised format: expected a faultline history (first line \
                  {\"schema\":\"faultline.history/1\",...}), a Jepsen EDN history \
                  ({:type :invoke, :f :write, ...} or [{...} ...]) or a Jepsen log \
                  (INFO  jepsen.util - 0 :invoke :write 3)"
            .to_owned(),
    })?;
    let history = match format {
        Format::Jsonl => super::jsonl::read(text)?,
        Format::Edn => super::edn::read(text)?,
        Format::JepsenLog => from_jepsen_log(super::jepsen::read_log(text)?),
    };
    Ok((format, history))
}

/// A Jepsen log's operations, whose `call` and `ret` are their lines (counted from 1), as
/// one register.
fn from_jepsen_log(ops: Vec<RegOp>) -> RegHistory {
    let lines = ops
        .iter()
        .map(|op| Lines { call: op.call as usize, ret: op.ret.map(|r| r as usize) })
        .collect();
    RegHistory { ops: ops.into_iter().map(|op| (SINGLE_KEY.to_owned(), op)).collect(), lines }
}

/// How a completion ended an operation, as a reader understood it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Completion {
    /// It took effect; a read saw this value.
    Ok(Option<i64>),
    /// A compare-and-set found another value.
    Mismatch,
    /// It did not happen: the operation is dropped.
    DidNotHappen,
    /// Unknown: it may have happened, or not.
    Unknown,
}

/// An invocation waiting for its completion.
struct Open {
    slot: usize,
    key: String,
    f: &'static str,
}

/// Pairs invocations with completions by process, in event order, into a
/// [`RegHistory`]. Times are event positions, so real-time order is the file's order.
#[derive(Default)]
pub(super) struct Pairing {
    slots: Vec<Option<(KeyedRegOp, Lines)>>,
    open: BTreeMap<u64, Open>,
    time: u64,
}

impl Pairing {
    /// Process `process` invoked `input` on `key`, at `line`.
    pub(super) fn invoke(
        &mut self,
        line: usize,
        process: u64,
        key: String,
        input: RegInput,
    ) -> Result<(), ReadError> {
        if let Some(open) = self.open.get(&process) {
            let (_, lines) = self.slots[open.slot].as_ref().expect("open slots are filled");
            return Err(ReadError {
                line,
                message: format!(
                    "process {process} invokes again, but its {} of line {} has not completed: \
                     expected a completion first",
                    open.f, lines.call
                ),
            });
        }
        self.time += 1;
        let op = RegOp { client: process, call: self.time, ret: None, input, output: None };
        let open = Open { slot: self.slots.len(), key: key.clone(), f: name(&input) };
        self.slots.push(Some(((key, op), Lines { call: line, ret: None })));
        self.open.insert(process, open);
        Ok(())
    }

    /// Process `process` completed its open operation at `line`: `f` and `key` (when the
    /// completion names one) must be the invocation's.
    pub(super) fn complete(
        &mut self,
        line: usize,
        process: u64,
        f: &str,
        key: Option<&str>,
        how: Completion,
    ) -> Result<(), ReadError> {
        let Some(open) = self.open.remove(&process) else {
            return Err(ReadError {
                line,
                message: format!("process {process} completes a {f} it never invoked"),
            });
        };
        if open.f != f || key.is_some_and(|k| k != open.key) {
            let shown = key.map_or(String::new(), |k| format!(" on key {k}"));
            return Err(ReadError {
                line,
                message: format!(
                    "process {process} completes a {f}{shown}: expected its {} on key {}",
                    open.f, open.key
                ),
            });
        }
        self.time += 1;
        let slot = &mut self.slots[open.slot];
        let ((_, op), lines) = slot.as_mut().expect("open slots are filled");
        op.ret = Some(self.time);
        lines.ret = Some(line);
        op.output = match (how, op.input) {
            (Completion::Ok(v), RegInput::Read) => Some(RegOutput::Value(v)),
            (Completion::Ok(_), _) => Some(RegOutput::Ok),
            (Completion::Mismatch, _) => Some(RegOutput::Failed),
            // An `info` line still says where the operation was left.
            (Completion::Unknown, _) => {
                op.ret = None;
                None
            }
            (Completion::DidNotHappen, _) => {
                *slot = None;
                return Ok(());
            }
        };
        Ok(())
    }

    /// Whether `process` has an operation invoked and not yet completed.
    pub(super) fn is_open(&self, process: u64) -> bool {
        self.open.contains_key(&process)
    }

    /// The history: invocations left open are unknown (`ret: None`).
    pub(super) fn finish(self) -> RegHistory {
        let (ops, lines) = self.slots.into_iter().flatten().unzip();
        RegHistory { ops, lines }
    }
}

/// The name of an operation's function, as histories write it.
pub fn name(input: &RegInput) -> &'static str {
    match input {
        RegInput::Read => "read",
        RegInput::Write(_) => "write",
        RegInput::Cas { .. } => "cas",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart_by_their_first_line() {
        #[rustfmt::skip]
        let cases = [
            ("{\"schema\":\"faultline.history/1\"}\n", Some(Format::Jsonl)),
            ("\n{:type :invoke, :f :read, :value nil, :process 0}\n", Some(Format::Edn)),
            ("; a comment\n[{:type :invoke}]\n", Some(Format::Edn)),
            ("INFO  jepsen.core - Running\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n", Some(Format::JepsenLog)),
            ("INFO  jepsen.util - 0 :invoke :read nil\n", Some(Format::JepsenLog)),
            ("hello\n", None),
            ("", None),
        ];
        for (text, format) in cases {
            assert_eq!(Format::detect(text), format, "{text:?}");
        }
    }

    #[test]
    fn an_empty_file_is_not_a_history() {
        assert_eq!(read(" \n").unwrap_err().message, "the file is empty: expected a history");
    }

    #[test]
    fn an_unrecognised_file_names_the_formats_expected() {
        let err = read("hello\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("jepsen.util"), "{err}");
    }

    #[test]
    fn pairing_keeps_invocation_order_and_drops_what_did_not_happen() {
        let mut p = Pairing::default();
        p.invoke(1, 0, "k".into(), RegInput::Write(1)).unwrap();
        p.invoke(2, 1, "k".into(), RegInput::Read).unwrap();
        p.invoke(3, 2, "k".into(), RegInput::Write(2)).unwrap();
        p.complete(4, 1, "read", Some("k"), Completion::Ok(Some(1))).unwrap();
        p.complete(5, 0, "write", None, Completion::Ok(None)).unwrap();
        p.complete(6, 2, "write", None, Completion::DidNotHappen).unwrap();
        p.invoke(7, 2, "k".into(), RegInput::Cas { expect: 1, new: 3 }).unwrap();
        let h = p.finish();
        let ops: Vec<_> = h.ops.iter().map(|(_, op)| (op.call, op.ret, op.output)).collect();
        assert_eq!(
            ops,
            [
                (1, Some(5), Some(RegOutput::Ok)),
                (2, Some(4), Some(RegOutput::Value(Some(1)))),
                (7, None, None)
            ]
        );
        assert_eq!(h.lines[2], Lines { call: 7, ret: None });
    }

    #[test]
    fn pairing_refuses_a_completion_that_does_not_match() {
        let mut p = Pairing::default();
        assert_eq!(p.complete(3, 0, "read", None, Completion::Unknown).unwrap_err().line, 3);
        p.invoke(4, 0, "a".into(), RegInput::Read).unwrap();
        let err = p.invoke(5, 0, "a".into(), RegInput::Read).unwrap_err();
        assert!(err.message.contains("line 4"), "{err}");
        let err = p.complete(6, 0, "read", Some("b"), Completion::Ok(None)).unwrap_err();
        assert!(err.message.contains("expected its read on key a"), "{err}");
    }
}
