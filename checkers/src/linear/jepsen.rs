//! Jepsen's text logs of a register test, as Knossos' and Porcupine's test data keep them.
//!
//! Each operation line is written by the `jepsen.util` logger: a process, a type, a
//! function and a value, separated by tabs or by spaces (both occur: Porcupine's
//! `etcd_100`..`etcd_102` use spaces):
//!
//! ```text
//! INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]
//! INFO  jepsen.util - 3 :fail :cas [1 4]
//! ```
//!
//! What each completion means. On Porcupine's data this reads as its `parseJepsenLog`
//! does (our verdicts must equal Porcupine's there); beyond that data we differ where
//! Porcupine's reading would be wrong or silent: it recognises only `:fail :read
//! :timed-out` among failures (a read with an unknown output, returning at that line:
//! the same as dropping it), ignores every other `:fail` and every `:info` line (the
//! operation stays open to the end, as unknown, and becomes an orphan if the process
//! invokes again), anchors its patterns to `^INFO … $` and accepts digits only. We take
//! Jepsen's meaning of `:fail` (it did not happen) and `:info` (unknown), accept any
//! logger prefix and negative values, and refuse an operation line we cannot read
//! rather than skip it.
//!
//! | line | operation |
//! |---|---|
//! | `:invoke :read nil`, `:invoke :write N`, `:invoke :cas [a b]` | opens the process's operation |
//! | `:ok :read nil\|N` | the read returned nil or `N` |
//! | `:ok :write N`, `:ok :cas [a b]` | it took effect ([`RegOutput::Ok`]) |
//! | `:fail :cas [a b]` | the register did not hold `a` ([`RegOutput::Failed`]) |
//! | `:fail :read …`, `:fail :write …` | it did not happen: dropped (a read that fails says nothing) |
//! | `:info …` | unknown: `ret` and `output` are `None` |
//! | an invocation still open at the end | unknown, as `:info` |
//!
//! `client` is the process, `call` and `ret` are line numbers (counting from 1), so only
//! the order of events matters. Operations are listed in the order of their invocations.
//!
//! Lines that clearly are not client operations are skipped: blank lines, other loggers'
//! lines, and `jepsen.util` lines whose process is not a number (the nemesis). A line that
//! has the shape of an operation but cannot be read is an error, with its line number.

use super::{LinOp, ReadError, RegInput, RegOp, RegOutput};
use std::collections::HashMap;

/// Reads a Jepsen register log into register operations.
///
/// ```
/// use checkers::linear::{jepsen, check, Budget, CasRegister, Outcome};
///
/// let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
///            INFO  jepsen.util - 0\t:ok\t:write\t1\n\
///            INFO  jepsen.util - 1 :invoke :read nil\n\
///            INFO  jepsen.util - 1 :ok :read nil\n";
/// let ops = jepsen::read_log(log)?;
/// assert_eq!(ops.len(), 2);
/// assert!(matches!(check(&CasRegister::default(), &ops, Budget::default()), Outcome::NotLinearizable { .. }));
/// # Ok::<(), checkers::linear::ReadError>(())
/// ```
pub fn read_log(text: &str) -> Result<Vec<RegOp>, ReadError> {
    let mut ops: Vec<RegOp> = Vec::new();
    let mut dropped: Vec<bool> = Vec::new();
    let mut open: HashMap<u64, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let Some(fields) = op_fields(raw) else { continue };
        let err = |message: String| ReadError { line, message };
        let (process, kind, f, value) = fields;
        let process =
            process.parse::<u64>().map_err(|_| err(format!("bad process {process:?}")))?;
        if ![":invoke", ":ok", ":fail", ":info"].contains(&kind) {
            return Err(err(format!(
                "unknown type {kind:?}: expected :invoke, :ok, :fail or :info"
            )));
        }
        let f = Function::parse(f).ok_or_else(|| {
            err(format!("unknown function {f:?}: expected :read, :write or :cas"))
        })?;
        if kind == ":invoke" {
            if let Some(&prev) = open.get(&process) {
                let prev_line = ops[prev].call;
                return Err(err(format!(
                    "process {process} invoked again while its operation of line {prev_line} is open"
                )));
            }
            let input = f.input(value).map_err(err)?;
            open.insert(process, ops.len());
            ops.push(LinOp { client: process, call: line as u64, ret: None, input, output: None });
            dropped.push(false);
            continue;
        }
        let Some(id) = open.remove(&process) else {
            return Err(err(format!(
                "{kind} {} for process {process}, which has no open invocation",
                f.name()
            )));
        };
        let op = &mut ops[id];
        if !f.input_matches(&op.input) {
            return Err(err(format!(
                "{kind} {} completes process {process}'s {:?} of line {}",
                f.name(),
                op.input,
                op.call
            )));
        }
        match (kind, f) {
            (":ok", _) => {
                op.output = Some(f.ok_output(value, &op.input).map_err(err)?);
                op.ret = Some(line as u64);
            }
            (":fail", Function::Cas) => {
                f.ok_output(value, &op.input).map_err(err)?;
                op.output = Some(RegOutput::Failed);
                op.ret = Some(line as u64);
            }
            (":fail", _) => dropped[id] = true,
            _ => {} // :info: unknown, as it was invoked
        }
    }
    let mut keep = dropped.iter().map(|d| !d);
    ops.retain(|_| keep.next().unwrap_or(true));
    Ok(ops)
}

/// `(process, type, function, value)` of a `jepsen.util` operation line, or `None` for a
/// line that is not one.
fn op_fields(raw: &str) -> Option<(&str, &str, &str, &str)> {
    let (_, rest) = raw.split_once("jepsen.util")?;
    let rest = rest.trim_start().strip_prefix('-')?;
    let (process, rest) = split_word(rest)?;
    if !process.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (kind, rest) = split_word(rest)?;
    if !kind.starts_with(':') {
        return None;
    }
    let (f, rest) = split_word(rest).unwrap_or(("", ""));
    Some((process, kind, f, rest.trim()))
}

/// The first whitespace-separated word of `s`, and what follows it.
fn split_word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    Some(s.split_once(char::is_whitespace).unwrap_or((s, "")))
}

#[derive(Clone, Copy, Debug)]
enum Function {
    Read,
    Write,
    Cas,
}

impl Function {
    fn parse(f: &str) -> Option<Function> {
        match f {
            ":read" => Some(Function::Read),
            ":write" => Some(Function::Write),
            ":cas" => Some(Function::Cas),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Function::Read => ":read",
            Function::Write => ":write",
            Function::Cas => ":cas",
        }
    }

    /// The input an invocation's value asks for.
    fn input(self, value: &str) -> Result<RegInput, String> {
        match self {
            Function::Read if value == "nil" => Ok(RegInput::Read),
            Function::Read => Err(format!(":invoke :read {value:?}: expected nil")),
            Function::Write => Ok(RegInput::Write(number(value)?)),
            Function::Cas => {
                let [expect, new] = pair(value)?;
                Ok(RegInput::Cas { expect, new })
            }
        }
    }

    fn input_matches(self, input: &RegInput) -> bool {
        matches!(
            (self, input),
            (Function::Read, RegInput::Read)
                | (Function::Write, RegInput::Write(_))
                | (Function::Cas, RegInput::Cas { .. })
        )
    }

    /// What an `:ok` completion with `value` answered to `input` (a cas's value must
    /// repeat its invocation's, and so must a write's).
    fn ok_output(self, value: &str, input: &RegInput) -> Result<RegOutput, String> {
        match (self, *input) {
            (Function::Read, _) if value == "nil" => Ok(RegOutput::Value(None)),
            (Function::Read, _) => Ok(RegOutput::Value(Some(number(value)?))),
            (Function::Write, RegInput::Write(v)) if number(value)? == v => Ok(RegOutput::Ok),
            (Function::Cas, RegInput::Cas { expect, new }) if pair(value)? == [expect, new] => {
                Ok(RegOutput::Ok)
            }
            _ => Err(format!("completion value {value:?} differs from its invocation's {input:?}")),
        }
    }
}

fn number(s: &str) -> Result<i64, String> {
    s.parse().map_err(|_| format!("bad number {s:?}: expected an integer"))
}

/// `[a b]`.
fn pair(s: &str) -> Result<[i64; 2], String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("bad cas value {s:?}: expected [expected new]"))?;
    let mut words = inner.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(a), Some(b), None) => Ok([number(a)?, number(b)?]),
        _ => Err(format!("bad cas value {s:?}: expected [expected new]")),
    }
}

#[cfg(test)]
mod tests;
