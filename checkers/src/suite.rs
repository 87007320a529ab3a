//! Suites: the checkers a workload's history needs, and checking a history end to end.
//!
//! Every suite runs [`Stats`], [`Availability`] and [`Faults`], then its workload's
//! checkers:
//!
//! | workload     | checkers                                                                       |
//! |--------------|--------------------------------------------------------------------------------|
//! | `billing`    | charge-without-credit, over-charge, wrongful-suspension, reconciliation, fail-safe |
//! | `counter`    | counter                                                                        |
//! | `set`        | set-full                                                                       |
//! | `unique-ids` | unique-ids                                                                     |
//!
//! A history names its workload in its header (`"workload": "billing"`); a header
//! without one is a billing history.

use crate::billing;
use crate::checker::Checker;
use crate::classic::{Availability, Counter, Faults, SetFull, Stats, UniqueIds};
use crate::format::{Header, HistoryReader, ReadError};
use crate::history::History;
use crate::report::Report;
use crate::runner::Runner;
use std::io::BufRead;

/// What a history exercises, and so which checkers judge it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// The billing system: debits, payments, auto-recharge, a ledger.
    Billing,
    /// A grow-only counter.
    Counter,
    /// A set of integers.
    Set,
    /// A unique-id generator.
    UniqueIds,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 4] =
        [Workload::Billing, Workload::Counter, Workload::Set, Workload::UniqueIds];

    /// The name a header gives it.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Billing => "billing",
            Workload::Counter => "counter",
            Workload::Set => "set",
            Workload::UniqueIds => "unique-ids",
        }
    }

    /// The workload of this name.
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// Why a history could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The history could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The header names a workload this crate does not know.
    #[error(
        "line 1: the header names workload {0:?}; expected billing, counter, set or unique-ids"
    )]
    UnknownWorkload(String),
}

/// The checkers for one workload, with their settings.
///
/// Defaults: no availability minimum (figures only), sets not required linearizable.
#[derive(Clone, Debug)]
pub struct Suite {
    workload: Workload,
    min_availability: Option<f64>,
    linearizable_set: bool,
}

impl Suite {
    /// The suite for a workload, with default settings.
    pub fn new(workload: Workload) -> Suite {
        Suite { workload, min_availability: None, linearizable_set: false }
    }

    /// The suite a history's header names (billing when it names none).
    pub fn for_header(header: &Header) -> Result<Suite, CheckError> {
        match header.meta.get("workload") {
            None => Ok(Suite::new(Workload::Billing)),
            Some(v) => v
                .as_str()
                .and_then(Workload::from_name)
                .map(Suite::new)
                .ok_or_else(|| CheckError::UnknownWorkload(v.to_string())),
        }
    }

    /// Makes availability invalid when some `f` succeeds less often than `fraction`
    /// outside fault windows.
    pub fn min_availability(mut self, fraction: f64) -> Suite {
        self.min_availability = Some(fraction);
        self
    }

    /// Makes stale set reads anomalies.
    pub fn linearizable_set(mut self, linearizable: bool) -> Suite {
        self.linearizable_set = linearizable;
        self
    }

    /// The workload it checks.
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// Fresh checkers for one history.
    pub fn checkers(&self) -> Vec<Box<dyn Checker>> {
        let mut checkers: Vec<Box<dyn Checker>> = vec![
            Box::new(Stats::default()),
            Box::new(Availability::new(self.min_availability)),
            Box::new(Faults::default()),
        ];
        match self.workload {
            Workload::Billing => checkers.extend(billing::checkers()),
            Workload::Counter => checkers.push(Box::new(Counter::default())),
            Workload::Set => checkers.push(Box::new(SetFull::new(self.linearizable_set))),
            Workload::UniqueIds => checkers.push(Box::new(UniqueIds::default())),
        }
        checkers
    }

    /// A runner over fresh checkers, for feeding operations one at a time.
    pub fn runner(&self) -> Runner {
        Runner::new(self.checkers())
    }

    /// Checks a history held in memory.
    pub fn check(&self, history: &History) -> Report {
        let mut runner = self.runner();
        history.iter().for_each(|op| runner.observe(op, None));
        runner.finish()
    }

    /// Checks a history as it streams from a reader; a torn last line is noted in the
    /// report, any other unreadable line is an error.
    pub fn check_reader<R: BufRead>(
        &self,
        mut reader: HistoryReader<R>,
    ) -> Result<Report, ReadError> {
        let mut runner = self.runner();
        while let Some((line, op)) = reader.next_op()? {
            runner.observe(op, Some(line));
        }
        let mut report = runner.finish();
        report.meta = reader.header().meta.clone();
        report.torn_tail = reader.torn_tail().cloned();
        Ok(report)
    }
}

/// Reads a history, picks the suite its header names, and checks it: what
/// `faultline check` does.
///
/// ```
/// let history = br#"{"schema":"faultline.history/1","workload":"counter","seed":7}
/// {"index":0,"time":0,"process":0,"type":"invoke","f":"add","value":2}
/// {"index":1,"time":5,"process":0,"type":"ok","f":"add","value":2}
/// {"index":2,"time":6,"process":1,"type":"invoke","f":"read"}
/// {"index":3,"time":9,"process":1,"type":"ok","f":"read","value":2}
/// "#;
/// let report = checkers::check(&history[..]).unwrap();
/// assert_eq!(report.exit_code(), 0);
/// ```
pub fn check<R: BufRead>(input: R) -> Result<Report, CheckError> {
    let reader = HistoryReader::new(input)?;
    let suite = Suite::for_header(reader.header())?;
    Ok(suite.check_reader(reader)?)
}
