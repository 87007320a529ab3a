//! What a checker is: a pure, streaming fold from operations to a [`Verdict`].
//!
//! A checker sees every operation once, in history order, as an [`Event`]: the
//! [`Runner`](crate::runner::Runner) pairs each client completion with its invocation
//! so a checker never keeps a history of its own. Its memory must grow with what the
//! history is about (accounts, charges, set elements), never with the history's length.
//! Checkers do no IO, read no clock and spawn nothing; a checker that panics is reported
//! `Unknown` by the runner, and the others go on.

use crate::fast::FastMap;
use crate::history::{AccountOp, Op, OpType, Process, Value};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One operation as a checker sees it.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    /// The operation, as recorded.
    pub op: &'a Op,
    /// For the completion of an invoked operation: its invocation.
    pub invocation: Option<&'a Op>,
    /// The other operations in flight: invoked and not yet completed.
    pub in_flight: InFlight<'a>,
}

/// The operations in flight at an event: invoked, not completed, excluding the event's
/// own. Clients', the nemesis's, the monitor's probes and the harness's `settle`. An
/// operation completed `info` is no longer listed, though it may still be running in the
/// system under test: checkers that care keep those themselves.
#[derive(Clone, Copy, Debug)]
pub struct InFlight<'a>(pub(crate) &'a FastMap<Process, Op>);

impl<'a> InFlight<'a> {
    /// Their invocations, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &'a Op> {
        self.0.values()
    }
}

impl<'a> Event<'a> {
    /// The client process that performed the operation, if a client did.
    pub fn client(&self) -> Option<u32> {
        match self.op.process {
            Process::Client(p) => Some(p),
            _ => None,
        }
    }

    /// The operation's arguments: the invocation's value for a completion (completions
    /// repeat them, but the invocation is what was asked), else its own.
    pub fn args(&self) -> &'a Value {
        self.invocation.map_or(&self.op.value, |inv| &inv.value)
    }

    /// The account operation this event carries as arguments, if it carries one.
    pub fn account_op(&self) -> Option<&'a AccountOp> {
        match self.args() {
            Value::Account(a) => Some(a),
            _ => match &self.op.value {
                Value::Account(a) => Some(a),
                _ => None,
            },
        }
    }

    /// The operation's type: invocation, or how it completed.
    pub fn kind(&self) -> OpType {
        self.op.kind
    }

    /// The operation's index.
    pub fn index(&self) -> u64 {
        self.op.index
    }

    /// The index of the invocation, or of the operation itself when it has none.
    pub fn invoke_index(&self) -> u64 {
        self.invocation.map_or(self.op.index, |inv| inv.index)
    }
}

/// A streaming check of one property of a history.
pub trait Checker {
    /// The checker's name in reports, e.g. `reconciliation`.
    fn name(&self) -> &'static str;

    /// Takes in the next operation.
    fn observe(&mut self, ev: &Event<'_>);

    /// The verdict, once every operation has been observed.
    fn finish(&mut self) -> Verdict;

    /// Figures worth reporting whatever the verdict (counts, rates), once finished.
    fn figures(&self) -> Vec<Figure> {
        Vec::new()
    }

    /// Which operations it needs to observe; the runner does not show it the others.
    fn interest(&self) -> Interest {
        Interest::ALL
    }

    /// What its verdict speaks to: safety (the default) decides the run's validity and
    /// exit code; liveness is reported beside it.
    fn concern(&self) -> Concern {
        Concern::Safety
    }
}

/// What a checker's verdict speaks to. A run's validity and exit code follow safety
/// alone: a system that stayed unavailable broke no promise about money, and a
/// system that kept money right while unavailable is not thereby correct either, so
/// liveness is reported as its own rows and figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Concern {
    /// Nothing bad happened: a violation makes the run invalid.
    #[default]
    Safety,
    /// Something good happened (operations succeeded, the system recovered after the
    /// faults healed); never in the exit code.
    Liveness,
}

/// Classes of operations a checker may need to observe, combined with [`Interest::or`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// Every operation.
    pub const ALL: Interest = Interest(0xFF);
    /// No operation.
    pub const NONE: Interest = Interest(0);
    /// Client invocations.
    pub const CLIENT_INVOKE: Interest = Interest(1);
    /// Client completions: `ok`, `fail`, `info`.
    pub const CLIENT_COMPLETION: Interest = Interest(2);
    /// The nemesis's operations.
    pub const NEMESIS: Interest = Interest(4);
    /// The card gateway's records.
    pub const GATEWAY: Interest = Interest(8);
    /// The monitor's probes.
    pub const MONITOR: Interest = Interest(16);
    /// The harness's records: `open`, `final`, `phase`, and `settle`.
    pub const HARNESS: Interest = Interest(32);
    /// The sentinel watch's events.
    pub const SENTINEL: Interest = Interest(64);

    /// Both classes.
    pub const fn or(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// The class of one operation.
    pub fn of(op: &Op) -> Interest {
        match (op.process, op.kind) {
            (Process::Client(_), OpType::Invoke) => Interest::CLIENT_INVOKE,
            (Process::Client(_), _) => Interest::CLIENT_COMPLETION,
            (Process::Nemesis, _) => Interest::NEMESIS,
            (Process::Gateway, _) => Interest::GATEWAY,
            (Process::Monitor, _) => Interest::MONITOR,
            (Process::Harness, _) => Interest::HARNESS,
            (Process::Sentinel, _) => Interest::SENTINEL,
        }
    }

    /// Whether the two share a class.
    pub fn meets(self, other: Interest) -> bool {
        self.0 & other.0 != 0
    }
}

/// A number a checker reports besides its verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// What it measures, e.g. `debit ok outside faults`.
    pub name: String,
    /// Its value: a count, or a fraction rounded to four decimals.
    pub value: f64,
}

impl Figure {
    /// A count.
    pub fn count(name: impl Into<String>, n: u64) -> Figure {
        Figure { name: name.into(), value: n as f64 }
    }

    /// A fraction `part / whole`, rounded to four decimals; `None` when `whole` is zero.
    pub fn fraction(name: impl Into<String>, part: u64, whole: u64) -> Option<Figure> {
        (whole > 0).then(|| {
            let value = (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0;
            Figure { name: name.into(), value }
        })
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.value)
    }
}
