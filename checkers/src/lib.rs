//! faultline's judgement: the history model and every checker.
//!
//! - [`history`]: operations, processes, values: the model every part of faultline shares.
//! - [`format`]: the JSON-lines file format, streamed.
//! - [`edn`]: export to Jepsen's EDN history shape.
//! - [`checker`]: what a checker is: a streaming fold from [`Event`]s to a [`Verdict`].
//! - [`runner`]: pairs completions with invocations, checks well-formedness, feeds checkers.
//! - [`verdict`]: `Valid | Invalid(anomalies) | Unknown(reason)`, and anomalies.
//! - [`suite`]: the checkers each workload needs; [`check`] a history end to end.
//! - [`sim`]: a simulated billing system writing valid histories, bugs injected on demand.
//! - [`report`]: every checker's verdict as a table, JSON and an exit code.
//! - [`billing`]: charge-without-credit, over-charge, wrongful-suspension, reconciliation, fail-safe.
//! - [`classic`]: Jepsen's counter, set-full, unique-ids, stats, and availability.
#![deny(missing_docs)]

pub mod billing;
pub mod checker;
pub mod classic;
pub mod edn;
mod fast;
pub mod format;
pub mod history;
pub mod report;
pub mod runner;
pub mod sim;
pub mod suite;
pub mod verdict;

#[cfg(test)]
mod testkit;

pub use checker::{Checker, Event, Figure};
pub use history::{History, Op};
pub use report::{CheckResult, Report};
pub use runner::Runner;
pub use suite::{CheckError, Suite, Workload, check};
pub use verdict::{Anomaly, AnomalyGroup, AnomalyKind, Validity, Verdict};
