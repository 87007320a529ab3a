//! Suites: the checkers a workload's history needs, and checking a history end to end.
//!
//! Every suite runs [`Faults`], then its workload's checkers (safety: they decide the
//! run's validity), then [`Stats`], [`Availability`] and [`Recovery`] (liveness:
//! reported beside the verdict, never in the exit code):
//!
//! | workload     | checkers                                                                       |
//! |--------------|--------------------------------------------------------------------------------|
//! | `billing`    | reach, charge-without-credit, over-charge, wrongful-suspension, reconciliation, fail-safe |
//! | `counter`    | counter                                                                        |
//! | `register`   | linearizable                                                                   |
//! | `set`        | set-full                                                                       |
//! | `unique-ids` | unique-ids                                                                     |
//!
//! A history's header configures its suite ([`Suite::for_header`]): `"workload"` names
//! the workload (billing when absent), `"schedule"` the faults the scenario scripted,
//! which [`Faults`] holds the run to, `"reach"` the minimums [`Reach`] holds a
//! billing workload to, and `"monitor"` (`{"interval": ns, "timeout": ns}`) the
//! monitor's timing fail-safe reads probes by. [`Suite::new`] is for callers without a
//! header: no schedule, no minimums, no monitor timing.

use crate::billing;
use crate::checker::Checker;
use crate::classic::schedule::{self, ScheduledFault};
use crate::classic::{
    Availability, Counter, Faults, Linearizable, Reach, ReachMinimums, Recovery, SetFull, Stats,
    UniqueIds,
};
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
    /// Independent read/write/compare-and-set registers, by key.
    Register,
    /// A set of integers.
    Set,
    /// A unique-id generator.
    UniqueIds,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 5] = [
        Workload::Billing,
        Workload::Counter,
        Workload::Register,
        Workload::Set,
        Workload::UniqueIds,
    ];

    /// The name a header gives it.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Billing => "billing",
            Workload::Counter => "counter",
            Workload::Register => "register",
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
        "line 1: the header names workload {0:?}; expected billing, counter, register, set or unique-ids"
    )]
    UnknownWorkload(String),
    /// A header key holds something this crate cannot read.
    #[error("line 1: the header's {key:?} must be {expected}: {error}")]
    BadHeaderKey {
        /// The key.
        key: &'static str,
        /// What it must hold.
        expected: &'static str,
        /// What is wrong with what it holds.
        error: String,
    },
}

/// The checkers for one workload, with their settings.
///
/// Defaults: no availability minimum (figures only), sets not required linearizable,
/// no schedule, no reach minimums.
#[derive(Clone, Debug)]
pub struct Suite {
    workload: Workload,
    min_availability: Option<f64>,
    linearizable_set: bool,
    schedule: Vec<ScheduledFault>,
    reach: ReachMinimums,
    monitor: Option<billing::MonitorTiming>,
}

impl Suite {
    /// The suite for a workload, with default settings.
    pub fn new(workload: Workload) -> Suite {
        Suite {
            workload,
            min_availability: None,
            linearizable_set: false,
            schedule: Vec::new(),
            reach: ReachMinimums::default(),
            monitor: None,
        }
    }

    /// The suite a history's header configures: its workload (billing when it names
    /// none), its schedule and its reach minimums.
    pub fn for_header(header: &Header) -> Result<Suite, CheckError> {
        let workload = match header.meta.get("workload") {
            None => Workload::Billing,
            Some(v) => v
                .as_str()
                .and_then(Workload::from_name)
                .ok_or_else(|| CheckError::UnknownWorkload(v.to_string()))?,
        };
        let mut suite = Suite::new(workload);
        if let Some(v) = header.meta.get("schedule") {
            let bad = |error| CheckError::BadHeaderKey {
                key: "schedule",
                expected: schedule::SCHEDULE_SHAPE,
                error,
            };
            suite = suite.schedule(schedule::parse_schedule(v).map_err(bad)?);
        }
        if let Some(v) = header.meta.get("reach") {
            let bad = |error| CheckError::BadHeaderKey {
                key: "reach",
                expected: crate::classic::REACH_SHAPE,
                error,
            };
            suite = suite.reach(ReachMinimums::parse(v).map_err(bad)?);
        }
        if let Some(v) = header.meta.get("monitor") {
            let bad = |error| CheckError::BadHeaderKey {
                key: "monitor",
                expected: billing::MONITOR_SHAPE,
                error,
            };
            suite = suite.monitor(billing::MonitorTiming::parse(v).map_err(bad)?);
        }
        Ok(suite)
    }

    /// Holds the run to this schedule: a scheduled fault that never started makes it
    /// unknown.
    pub fn schedule(mut self, schedule: Vec<ScheduledFault>) -> Suite {
        self.schedule = schedule;
        self
    }

    /// Holds a billing run to these minimums: a figure that falls short makes it
    /// unknown.
    pub fn reach(mut self, minimums: ReachMinimums) -> Suite {
        self.reach = minimums;
        self
    }

    /// Tells fail-safe the monitor's timing: two probes further apart than it allows
    /// do not show that a condition held between them.
    pub fn monitor(mut self, timing: billing::MonitorTiming) -> Suite {
        self.monitor = Some(timing);
        self
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
        let mut checkers: Vec<Box<dyn Checker>> =
            vec![Box::new(Faults::new(self.schedule.clone()))];
        match self.workload {
            Workload::Billing => {
                checkers.push(Box::new(Reach::new(self.reach)));
                checkers.extend(billing::checkers(self.monitor));
            }
            Workload::Counter => checkers.push(Box::new(Counter::default())),
            Workload::Register => checkers.push(Box::new(Linearizable::default())),
            Workload::Set => checkers.push(Box::new(SetFull::new(self.linearizable_set))),
            Workload::UniqueIds => checkers.push(Box::new(UniqueIds::default())),
        }
        checkers.push(Box::new(Stats::default()));
        checkers.push(Box::new(Availability::new(self.min_availability)));
        checkers.push(Box::new(Recovery::default()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Validity, Verdict};

    /// Account 7's debit, settled, under a header with these extra keys.
    fn run(header_keys: &str) -> Result<Report, CheckError> {
        let text = format!(
            r#"{{"schema":"faultline.history/1","workload":"billing"{header_keys}}}
{{"index":0,"time":0,"process":"harness","type":"ok","f":"open","value":{{"account":7,"balance":500,"threshold":100,"recharge":1000}}}}
{{"index":1,"time":10,"process":3,"type":"invoke","f":"debit","value":{{"account":7,"amount":5}}}}
{{"index":2,"time":20,"process":3,"type":"ok","f":"debit","value":{{"account":7,"amount":5,"balance":495}}}}
{{"index":3,"time":40,"process":"harness","type":"ok","f":"final","value":{{"account":7,"in_flight":495,"ledger":495,"suspended":false,"credited":[]}}}}
"#
        );
        check(text.as_bytes())
    }

    const TWILIO: &str =
        r#","schedule":[{"step":0,"fault":"restart-2013","at":5000000000,"duration":20000000000}]"#;

    #[test]
    fn a_run_cut_short_before_its_scheduled_fault_is_unknown() {
        let report = run(TWILIO).expect("a readable history");
        assert_eq!(report.exit_code(), 2);
        let reason = "scheduled fault 0 (restart-2013 at 5s) never started: the run did not \
                      test what it meant to";
        assert_eq!(report.result("faults").unwrap().verdict, Verdict::Unknown(reason.into()));
        let unheaded = Suite::new(Workload::Billing);
        assert!(unheaded.schedule.is_empty() && unheaded.reach == ReachMinimums::default());
        assert_eq!(run("").expect("a readable history").exit_code(), 0);
    }

    #[test]
    fn a_malformed_schedule_is_refused_at_line_one_saying_what_was_expected() {
        let err = run(r#","schedule":[{"step":0,"fault":"kill"}]"#).unwrap_err();
        let message = err.to_string();
        assert!(
            message
                .starts_with("line 1: the header's \"schedule\" must be a list like [{\"step\":0,"),
            "{message}"
        );
        assert!(message.ends_with(": missing field `at`"), "{message}");
        let err = run(r#","reach":{"charges":"many"}"#).unwrap_err().to_string();
        assert!(err.starts_with("line 1: the header's \"reach\" must be an object like"), "{err}");
    }

    #[test]
    fn the_monitor_timing_is_read_from_the_header_and_a_malformed_one_refused() {
        let report = run(r#","monitor":{"interval":100000000,"timeout":1000000000}"#);
        assert_eq!(report.expect("a readable history").exit_code(), 0);
        let err = run(r#","monitor":{"interval":100}"#).unwrap_err().to_string();
        assert!(
            err.starts_with("line 1: the header's \"monitor\" must be an object like"),
            "{err}"
        );
        assert!(err.ends_with(": missing field `timeout`"), "{err}");
    }

    #[test]
    fn a_run_that_reached_too_few_charges_is_unknown_and_figures_are_always_reported() {
        let report = run(r#","reach":{"charges":10}"#).expect("a readable history");
        assert_eq!(report.validity(), Validity::Unknown);
        let reason = "the workload made 0 charge attempts, fewer than the 10 the scenario asks \
                      for: it did not reach what it was meant to test";
        let reach = report.result("reach").unwrap();
        assert_eq!(reach.verdict, Verdict::Unknown(reason.into()));
        assert_eq!(reach.figures.len(), 3);
    }

    #[test]
    fn a_failover_minimum_is_read_from_the_header_and_its_figure_reported_with_the_others() {
        let report = run(r#","reach":{"failovers":1}"#).expect("a readable history");
        assert_eq!(report.validity(), Validity::Unknown);
        let line = "reach: charge attempts 0, contended charge attempts 0, charge attempts during \
                    faults 0, failovers 0\n";
        assert!(report.to_string().contains(line), "{report}");
        let json = serde_json::to_value(&report).expect("a report serialises");
        let reach = json["results"].as_array().unwrap().iter().find(|r| r["checker"] == "reach");
        assert_eq!(
            reach.unwrap()["figures"][3],
            serde_json::json!({"name": "failovers", "value": 0.0})
        );
    }
}
