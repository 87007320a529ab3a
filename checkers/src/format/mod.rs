//! The history file format: JSON lines.
//!
//! The first line names the schema and carries the run's metadata; its `workload`
//! (`billing`, `counter`, `set`, `unique-ids`; billing when absent) chooses the checkers
//! (see [`Suite::for_header`](crate::suite::Suite::for_header)):
//!
//! ```text
//! {"schema":"faultline.history/1","workload":"billing","scenario":"twilio-2013","sut":"naive","seed":7}
//! ```
//!
//! Every further line is one operation, with Jepsen's keys:
//!
//! ```text
//! {"index":0,"time":1200,"process":3,"type":"invoke","f":"debit","value":{"account":7,"amount":3}}
//! {"index":1,"time":98000,"process":3,"type":"ok","f":"debit","value":{"account":7,"amount":3,"balance":497}}
//! {"index":2,"time":99000,"process":"nemesis","type":"info","f":"start","value":{"id":1,"fault":"kill","targets":["redis-0"]}}
//! ```
//!
//! The header may also carry the scenario's `schedule`, the workload's `reach`
//! minimums and the `monitor`'s timing (`{"interval": ns, "timeout": ns}`; see
//! [`classic::schedule`](crate::classic::schedule), [`classic::Reach`](crate::classic::Reach)
//! and [`billing::MonitorTiming`](crate::billing::MonitorTiming)); the harness's own
//! records include the lines below. The first, at set-up, is the shape of the stores
//! the system under test declared (`layout`, a
//! [`LayoutShape`](crate::history::LayoutShape): `{"in_flight": false}` for a system
//! whose only balance is the ledger's, whose final states then have no `in_flight`);
//! it is an operation rather than a header key because the header is written before
//! the system under test exists (a service declares its layout once it runs). What
//! the systems and the gateway behind a billing history must do is the
//! [billing contract](crate::billing#what-a-system-must-do).
//!
//! ```text
//! {"index":0,"time":1000,"process":"harness","type":"ok","f":"layout","value":{"in_flight":true}}
//! {"index":3,"time":5000000000,"process":"nemesis","type":"invoke","f":"start","value":{"id":1,"fault":"restart-2013","targets":["redis-0"],"step":0}}
//! {"index":4,"time":5000100000,"process":"gateway","type":"ok","f":"charge","value":{"charge":9,"account":7,"amount":500,"op":1}}
//! {"index":5,"time":5000200000,"process":"monitor","type":"invoke","f":"probe"}
//! {"index":6,"time":5000900000,"process":"monitor","type":"ok","f":"probe","value":{"store":"loading","missing":[7]}}
//! {"index":7,"time":9000000000,"process":"harness","type":"ok","f":"phase","value":{"phase":"recovery"}}
//! {"index":8,"time":9900000000,"process":"harness","type":"invoke","f":"settle"}
//! {"index":9,"time":9950000000,"process":"harness","type":"ok","f":"settle"}
//! {"index":10,"time":9990000000,"process":"harness","type":"ok","f":"final","value":{"account":7,"in_flight":5,"ledger":5,"suspended":false,"credited":[9],"entries":5}}
//! ```
//!
//! A probe that could not tell what the store was doing completes `info`, without a
//! value, saying why in `error` (the fail-safe checker takes it as a gap in the
//! monitor's watch; see [`billing`](crate::billing#the-invariants)):
//!
//! ```text
//! {"index":12,"time":7000900000,"process":"monitor","type":"info","f":"probe","error":"Postgres refuses new sessions (57P03: the database system is shutting down): its open sessions may still be served"}
//! ```
//!
//! A run with Redis Sentinel also records what each sentinel published, one line per
//! event per sentinel (see [`SentinelEvent`](crate::history::SentinelEvent)):
//!
//! ```text
//! {"index":11,"time":6200000000,"process":"sentinel","type":"ok","f":"event","value":{"sentinel":"sentinel-1","event":"+switch-master","detail":"faultline 172.18.0.2 6379 172.18.0.3 6379","master":"redis-1"}}
//! ```
//!
//! [`HistoryReader`] streams operations from any [`BufRead`]: the crate never opens a
//! file itself. A last line without its newline that does not parse is a *torn tail*
//! (the harness was killed mid-write): it is reported by [`HistoryReader::torn_tail`]
//! and reading ends cleanly. A malformed line anywhere else is an error naming the line.
//!
//! Lines in exactly the form [`write_op`] writes are read by a hand-written parser
//! (`fast`, several times faster than serde); any other valid line falls back to serde.
//! [`HistoryReader::next_op`] parses each line into one reused [`Op`], so reading a
//! history moves and allocates nothing per operation; the [`Iterator`] impl clones.

use crate::history::{F, Op, OpType, Process, Value};
use serde::de::{self, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead};

/// The schema this crate writes and reads.
pub const SCHEMA: &str = "faultline.history/1";

/// The first line of a history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`SCHEMA`] for histories this crate can read.
    pub schema: String,
    /// The run's metadata: scenario, system under test, seed, and so on.
    #[serde(flatten)]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

impl Header {
    /// A header of the current schema with this metadata.
    pub fn new(meta: serde_json::Map<String, serde_json::Value>) -> Header {
        Header { schema: SCHEMA.to_owned(), meta }
    }
}

/// Why a history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("could not read the history: {0}")]
    Io(#[from] io::Error),
    /// The input is empty.
    #[error("the history is empty: expected a first line like {{\"schema\":\"{SCHEMA}\"}}")]
    Empty,
    /// The first line is not a header of a schema this crate reads.
    #[error(
        "line 1: expected a header like {{\"schema\":\"{SCHEMA}\"}}, found {found}; \
         is this a faultline history?"
    )]
    BadHeader {
        /// What was found instead.
        found: String,
    },
    /// A line in the middle of the history does not parse.
    #[error("line {line}: expected {expected}: {error}")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// What the line should have been.
        expected: &'static str,
        /// What the parser said.
        error: String,
    },
}

/// A last line that was cut short while being written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TornLine {
    /// 1-based line number.
    pub line: u64,
    /// How many bytes of it were written.
    pub bytes: usize,
}

/// Reads a history one operation at a time; memory does not grow with its length.
pub struct HistoryReader<R> {
    input: R,
    header: Header,
    buf: Vec<u8>,
    line: u64,
    torn: Option<TornLine>,
    done: bool,
    /// The operation last read, overwritten in place by the next.
    current: Op,
}

impl<R: BufRead> HistoryReader<R> {
    /// Reads the header line and prepares to stream operations.
    pub fn new(mut input: R) -> Result<HistoryReader<R>, ReadError> {
        let mut buf = Vec::with_capacity(256);
        if input.read_until(b'\n', &mut buf)? == 0 {
            return Err(ReadError::Empty);
        }
        let header = parse_header(&buf)?;
        Ok(HistoryReader { input, header, buf, line: 1, torn: None, done: false, current: blank() })
    }

    /// The history's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The line number of the last line read (the header is line 1).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The torn last line, once reading has reached it.
    pub fn torn_tail(&self) -> Option<&TornLine> {
        self.torn.as_ref()
    }

    /// The next operation with its line number, borrowed until the next call: the
    /// fastest way through a history, since nothing is moved or allocated per
    /// operation. `None` at the end, or at a torn last line.
    pub fn next_op(&mut self) -> Result<Option<(u64, &Op)>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let read = self.read_op();
        if !matches!(read, Ok(true)) {
            self.done = true;
        }
        Ok(read?.then_some((self.line, &self.current)))
    }

    fn read_op(&mut self) -> Result<bool, ReadError> {
        loop {
            match self.next_line()? {
                Line::End => return Ok(false),
                Line::Blank => continue,
                Line::Op => return Ok(true),
                Line::Torn(bytes) => {
                    self.torn = Some(TornLine { line: self.line, bytes });
                    return Ok(false);
                }
                Line::Bad(error) => return Err(error),
            }
        }
    }

    /// Reads the next line into `current`, in place from the input's buffer when it
    /// holds the whole line, else gathered into our own.
    fn next_line(&mut self) -> Result<Line, ReadError> {
        let available = self.input.fill_buf()?;
        if available.is_empty() {
            return Ok(Line::End);
        }
        if let Some(len) = fast::parse_line(available, &mut self.current) {
            self.line += 1;
            self.input.consume(len);
            return Ok(Line::Op);
        }
        if let Some(end) = memchr::memchr(b'\n', available) {
            self.line += 1;
            let line = Line::read(&available[..=end], true, self.line, &mut self.current);
            self.input.consume(end + 1);
            return Ok(line);
        }
        self.buf.clear();
        self.input.read_until(b'\n', &mut self.buf)?;
        self.line += 1;
        let complete = self.buf.last() == Some(&b'\n');
        Ok(Line::read(&self.buf, complete, self.line, &mut self.current))
    }
}

/// What one line of a history held.
enum Line {
    End,
    Blank,
    /// An operation, now in `current`.
    Op,
    /// A last line cut short, of this many bytes.
    Torn(usize),
    Bad(ReadError),
}

impl Line {
    fn read(raw: &[u8], complete: bool, line: u64, op: &mut Op) -> Line {
        let text = trim_line(raw);
        if text.is_empty() {
            return Line::Blank;
        }
        if fast::parse_into(text, op) {
            return Line::Op;
        }
        match parse_general(text) {
            Ok(parsed) => {
                *op = parsed;
                Line::Op
            }
            Err(_) if !complete => Line::Torn(raw.len()),
            Err(e) => Line::Bad(ReadError::Malformed {
                line,
                expected: "an operation like {\"index\":0,\"time\":0,\"process\":0,\
                           \"type\":\"invoke\",\"f\":\"debit\",\"value\":{...}}",
                error: e.to_string(),
            }),
        }
    }
}

impl<R: BufRead> Iterator for HistoryReader<R> {
    type Item = Result<Op, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_op().map(|op| op.map(|(_, op)| op.clone())).transpose()
    }
}

fn trim_line(buf: &[u8]) -> &[u8] {
    let end = buf.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &buf[..end]
}

fn parse_header(line: &[u8]) -> Result<Header, ReadError> {
    let found = || String::from_utf8_lossy(trim_line(line)).chars().take(80).collect::<String>();
    match serde_json::from_slice::<Header>(trim_line(line)) {
        Ok(h) if h.schema == SCHEMA => Ok(h),
        _ => Err(ReadError::BadHeader { found: found() }),
    }
}

mod fast;

/// An operation to parse into.
fn blank() -> Op {
    Op {
        index: 0,
        time: 0,
        process: Process::Client(0),
        kind: OpType::Invoke,
        f: F::Read,
        value: Value::Nil,
        error: None,
    }
}

/// Parses one operation line (without its newline).
pub fn parse_op(line: &[u8]) -> Result<Op, serde_json::Error> {
    let mut op = blank();
    match fast::parse_into(line, &mut op) {
        true => Ok(op),
        false => parse_general(line),
    }
}
/// Parses any operation line serde can read.
fn parse_general(line: &[u8]) -> Result<Op, serde_json::Error> {
    let raw: RawOp<'_> = serde_json::from_slice(line)?;
    let f = F::from_name(&raw.f);
    let value = match raw.value {
        None => Value::Nil,
        Some(v) => Value::from_json(raw.process, &f, v)?,
    };
    Ok(Op {
        index: raw.index,
        time: raw.time,
        process: raw.process,
        kind: raw.kind,
        f,
        value,
        error: raw.error.map(Cow::into_owned),
    })
}

/// Appends one operation as a JSON line, newline included, to `out`.
pub fn write_op(op: &Op, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, op).expect("an Op always serialises");
    out.push(b'\n');
}

#[derive(Deserialize)]
struct RawOp<'a> {
    index: u64,
    time: u64,
    process: Process,
    #[serde(rename = "type")]
    kind: OpType,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
}

impl Value {
    /// Interprets the JSON `raw` as the value of an operation of `process` whose `f` is
    /// `f`. A `layout` is a [`LayoutShape`](crate::history::LayoutShape) when the
    /// harness recorded it (one that is none makes the line unreadable, as a malformed
    /// `final` does). An `event` is a [`SentinelEvent`](crate::history::SentinelEvent)
    /// only when the sentinel watch recorded it, and only when it reads as one: any
    /// other object stays JSON (a driver's own `event` operations keep their values; a malformed
    /// record of the watch is the runner's `well-formed` row's to name).
    pub fn from_json(process: Process, f: &F, raw: &RawValue) -> Result<Value, serde_json::Error> {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'n') => Ok(Value::Nil),
            Some(b'-' | b'0'..=b'9') => serde_json::from_str(text).map(Value::Int),
            Some(b'[') => Ok(serde_json::from_str(text)
                .map(Value::List)
                .unwrap_or_else(|_| Value::Json(serde_json::from_str(text).unwrap_or_default()))),
            Some(b'{') => Ok(match f {
                // A billing read names an account, a register read a key.
                F::Read => serde_json::from_str(text)
                    .map(Value::Account)
                    .or_else(|e| serde_json::from_str(text).map(Value::Register).map_err(|_| e))?,
                F::Debit | F::Payment | F::CardDeactivated => {
                    Value::Account(serde_json::from_str(text)?)
                }
                F::Write | F::Cas => Value::Register(serde_json::from_str(text)?),
                F::Charge => Value::Charge(serde_json::from_str(text)?),
                F::Probe => Value::Probe(serde_json::from_str(text)?),
                F::Layout if process == Process::Harness => {
                    Value::Layout(serde_json::from_str(text)?)
                }
                F::Open => Value::Open(serde_json::from_str(text)?),
                F::Final => Value::Final(serde_json::from_str(text)?),
                F::Start | F::Heal => Value::Fault(serde_json::from_str(text)?),
                F::Phase => Value::Phase(serde_json::from_str(text)?),
                F::Event if process == Process::Sentinel => serde_json::from_str(text)
                    .map(Value::Sentinel)
                    .or_else(|_| serde_json::from_str(text).map(Value::Json))?,
                _ => Value::Json(serde_json::from_str(text)?),
            }),
            _ => serde_json::from_str(text).map(Value::Json),
        }
    }
}

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = 5 + usize::from(self.value != Value::Nil) + usize::from(self.error.is_some());
        let mut st = s.serialize_struct("Op", fields)?;
        st.serialize_field("index", &self.index)?;
        st.serialize_field("time", &self.time)?;
        st.serialize_field("process", &self.process)?;
        st.serialize_field("type", &self.kind)?;
        st.serialize_field("f", self.f.as_str())?;
        if self.value != Value::Nil {
            st.serialize_field("value", &self.value)?;
        }
        if let Some(e) = &self.error {
            st.serialize_field("error", e)?;
        }
        st.end()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => s.serialize_none(),
            Value::Int(n) => s.serialize_i64(*n),
            Value::List(l) => l.serialize(s),
            Value::Account(a) => a.serialize(s),
            Value::Charge(c) => c.serialize(s),
            Value::Probe(p) => p.serialize(s),
            Value::Layout(l) => l.serialize(s),
            Value::Open(o) => o.serialize(s),
            Value::Final(f) => f.serialize(s),
            Value::Phase(p) => p.serialize(s),
            Value::Fault(f) => f.serialize(s),
            Value::Sentinel(e) => e.serialize(s),
            Value::Register(r) => r.serialize(s),
            Value::Json(j) => j.serialize(s),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(n) => s.serialize_u32(*n),
            Process::Nemesis => s.serialize_str("nemesis"),
            Process::Gateway => s.serialize_str("gateway"),
            Process::Monitor => s.serialize_str("monitor"),
            Process::Harness => s.serialize_str("harness"),
            Process::Sentinel => s.serialize_str("sentinel"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Process, D::Error> {
        d.deserialize_any(ProcessVisitor)
    }
}

struct ProcessVisitor;

/// The processes named by a string.
const PROCESSES: &[&str] = &["nemesis", "gateway", "monitor", "harness", "sentinel"];

impl Visitor<'_> for ProcessVisitor {
    type Value = Process;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a client number or one of \"nemesis\", \"gateway\", \"monitor\", \"harness\", \"sentinel\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Process, E> {
        u32::try_from(v).map(Process::Client).map_err(|_| E::custom("process number too large"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Process, E> {
        u32::try_from(v).map(Process::Client).map_err(|_| E::custom("process number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Process, E> {
        match v {
            "nemesis" => Ok(Process::Nemesis),
            "gateway" => Ok(Process::Gateway),
            "monitor" => Ok(Process::Monitor),
            "harness" => Ok(Process::Harness),
            "sentinel" => Ok(Process::Sentinel),
            other => Err(E::unknown_variant(other, PROCESSES)),
        }
    }
}

#[cfg(test)]
mod tests;
