//! What a run leaves for people and CI to read: `results.json`, `junit.xml` (one test
//! case per checker) and `report.html`, all derived from the stored history and the
//! checkers' [`Report`].
//!
//! - `summary`: one streaming pass over the history for what the page draws.
//! - `results`: the run's results as data ([`Results`]): the verdict, each anomaly
//!   with its earliest witness's index and time, the figures the page shows.
//! - `plots`: SVG timeline, latency and throughput plots with fault windows shaded.
//! - `register`: the timeline of a register that is not linearizable, around the
//!   operation that could not be placed.
//! - `tables`: the checkers (safety apart from liveness), faults and recovery tables.
//! - `html`: the self-contained page.

mod html;
mod plots;
mod register;
mod results;
mod summary;
mod tables;

pub use html::escape;
pub use register::{KeyOp, KeyTimeline};
pub use results::{Charges, Check, Finding, Found, Results, Witness};
pub use summary::{FaultWindow, ScheduledStep, Summary, Witnessing, summarize};

use crate::store::{self, RunDir};
use checkers::Report;
use checkers::verdict::Verdict;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader};

/// Writes `results.json`, `junit.xml` and `report.html` for `report` into `run`,
/// reading the history stored there once more for the page.
pub fn write_all(run: &RunDir, report: &Report) -> io::Result<Summary> {
    run.write_json(store::RESULTS, report)?;
    run.write("junit.xml", junit(report).map_err(io::Error::other)?)?;
    let history = BufReader::new(File::open(run.file(store::HISTORY))?);
    let mut summary = summarize(history, &witnesses(report)).map_err(io::Error::other)?;
    if let Some(focus) = register::focus(report) {
        let history = BufReader::new(File::open(run.file(store::HISTORY))?);
        summary.register = Some(register::collect(history, &focus).map_err(io::Error::other)?);
    }
    run.write("report.html", html::render(report, &summary))?;
    Ok(summary)
}

/// The indices of every operation an anomaly points at.
fn witnesses(report: &Report) -> BTreeSet<u64> {
    let groups = report.results.iter().flat_map(|r| r.verdict.anomalies());
    groups.flat_map(|g| [&g.first, &g.worst, &g.last]).flat_map(|a| a.ops.iter().copied()).collect()
}

/// JUnit XML: one suite for the run, one test case per checker. A liveness row that is
/// not valid is a *skipped* case with its verdict as the message: reported, but, like
/// the exit code, not failing the build.
pub fn junit(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let name = ["scenario", "sut"]
        .iter()
        .filter_map(|k| report.meta.get(*k).and_then(|v| v.as_str()))
        .collect::<Vec<_>>()
        .join(" / ");
    let mut junit = quick_junit::Report::new("faultline");
    let mut suite = TestSuite::new(if name.is_empty() { "faultline".to_string() } else { name });
    for result in &report.results {
        if !result.is_safety() && !result.verdict.is_valid() {
            let mut status = TestCaseStatus::skipped();
            let verdict = match &result.verdict {
                Verdict::Unknown(reason) => format!("unknown: {reason}"),
                other => other.validity().to_string(),
            };
            status.set_message(format!("liveness, reported and not judged: {verdict}"));
            suite.add_test_case(TestCase::new(result.checker.clone(), status));
            continue;
        }
        let status = match &result.verdict {
            Verdict::Valid => TestCaseStatus::success(),
            Verdict::Invalid(groups) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let summary: Vec<String> =
                    groups.iter().map(|g| format!("{} x {}", g.count, g.kind.name())).collect();
                status.set_message(summary.join(", "));
                let text: Vec<&str> = groups.iter().map(|g| g.first.explanation.as_str()).collect();
                status.set_description(text.join("\n"));
                status
            }
            Verdict::Unknown(reason) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(format!("unknown: {reason}"));
                status
            }
        };
        suite.add_test_case(TestCase::new(result.checker.clone(), status));
    }
    junit.add_test_suite(suite);
    junit.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::{CheckResult, Concern};

    #[test]
    fn junit_fails_on_safety_and_skips_a_liveness_row_that_is_not_valid() {
        let report = Report {
            meta: Default::default(),
            ops: 0,
            torn_tail: None,
            results: vec![
                CheckResult::new("conservation", Verdict::Unknown("no final read".into()), vec![]),
                CheckResult::new("stats", Verdict::Unknown("read never ok".into()), vec![])
                    .with_concern(Concern::Liveness),
            ],
        };
        let xml = junit(&report).unwrap();
        assert!(xml.contains("<error message=\"unknown: no final read\""), "{xml}");
        assert!(
            xml.contains(
                "<skipped message=\"liveness, reported and not judged: unknown: read never ok\""
            ),
            "{xml}"
        );
    }
}
