//! faultline's judgement: the history model and every checker.
//!
//! - [`history`]: operations, processes, values: the model every part of faultline shares.
//! - [`format`](mod@format): the JSON-lines file format, streamed, with a fast path.
//! - [`edn`]: export to Jepsen's EDN history shape.
//! - [`checker`]: what a checker is: a streaming fold from [`Event`]s to a [`Verdict`].
//! - [`runner`]: pairs completions with invocations, checks well-formedness, feeds checkers.
//! - [`suite`]: the checkers each workload needs; [`check`] a history end to end.
//! - [`billing`]: charge-without-credit, over-charge, wrongful-suspension, reconciliation, fail-safe.
//! - [`classic`]: Jepsen's counter, set-full, unique-ids, stats and availability; `faults`
//!   (held to the header's schedule), `reach` (what the workload reached) and `recovery`.
//! - [`linear`]: a linearizability checker (Wing–Gong–Lowe, as Porcupine), per key.
//! - [`verdict`]: `Valid | Invalid(anomalies) | Unknown(reason)`, and anomalies.
//! - [`report`]: every checker's verdict as a table, JSON and an exit code.
//! - `sim` (feature `sim`, on in the crate's own tests and bench): a simulated billing
//!   system writing valid histories, bugs injected on demand.
//!
//! The crate does no IO (it reads any [`BufRead`](std::io::BufRead) it is handed), no
//! async and reads no clock. Checkers see each operation once, in order, so memory grows
//! with what a history is about (accounts, charges, set elements), not with its length.
//!
//! ```
//! use checkers::{AnomalyKind, Validity};
//!
//! // Account 7 opens with 500 cents, a 100-cent threshold and 1000-cent recharges:
//! // a 5-cent debit does not justify charging its card.
//! let history = br#"{"schema":"faultline.history/1","workload":"billing","seed":7}
//! {"index":0,"time":0,"process":"harness","type":"ok","f":"open","value":{"account":7,"balance":500,"threshold":100,"recharge":1000}}
//! {"index":1,"time":10,"process":3,"type":"invoke","f":"debit","value":{"account":7,"amount":5}}
//! {"index":2,"time":20,"process":"gateway","type":"ok","f":"charge","value":{"charge":55,"account":7,"amount":1000}}
//! {"index":3,"time":30,"process":3,"type":"ok","f":"debit","value":{"account":7,"amount":5,"balance":1495}}
//! {"index":4,"time":40,"process":"harness","type":"ok","f":"final","value":{"account":7,"in_flight":1495,"ledger":1495,"suspended":false,"credited":[55]}}
//! "#;
//! let report = checkers::check(&history[..]).expect("a readable history");
//! assert_eq!(report.validity(), Validity::Invalid);
//! assert_eq!(report.exit_code(), 1);
//! assert_eq!(report.verdict().anomalies()[0].kind, AnomalyKind::OverCharge);
//! println!("{report}"); // the verdict table, then each anomaly explained
//! ```
#![deny(missing_docs)]

pub mod billing;
pub mod checker;
pub mod classic;
pub mod edn;
mod fast;
pub mod format;
pub mod history;
pub mod linear;
pub mod report;
pub mod runner;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod suite;
pub mod verdict;

#[cfg(test)]
mod testkit;

pub use checker::{Checker, Concern, Event, Figure, InFlight, Interest};
pub use history::{History, Op};
pub use report::{CheckResult, Report};
pub use runner::Runner;
pub use suite::{CheckError, Suite, Workload, check};
pub use verdict::{Anomaly, AnomalyGroup, AnomalyKind, Validity, Verdict};
