//! What a check produces: every checker's verdict, and the table an engineer reads.
//!
//! A [`Report`] serialises to JSON (the harness writes it as `results.json` and derives
//! JUnit from it), every row with its `concern`, and displays as a verdict table
//! followed by each anomaly's explanation and each checker's figures. The table shows
//! the safety rows and the overall verdict they make, then the liveness rows under
//! their own heading (`met` or `NOT MET`): liveness is reported, never decided on.
//! [`Report::exit_code`] gives the process exit code from safety alone: 0 valid,
//! 1 invalid, 2 unknown.

use crate::checker::{Concern, Figure};
use crate::format::TornLine;
use crate::verdict::{Validity, Verdict};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The outcome of checking one history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The history header's metadata (scenario, system under test, seed...).
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// How many operations were checked.
    pub ops: u64,
    /// The last line, if the harness was killed while writing it.
    pub torn_tail: Option<TornLine>,
    /// One result per checker, in the order they ran; `well-formed` first.
    pub results: Vec<CheckResult>,
}

/// One checker's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The checker's name.
    pub checker: String,
    /// What it concluded.
    pub verdict: Verdict,
    /// Figures it reports whatever its verdict.
    pub figures: Vec<Figure>,
    /// What the verdict speaks to; only safety counts towards the run's validity.
    #[serde(default)]
    pub concern: Concern,
}

impl CheckResult {
    /// A safety result.
    pub fn new(checker: &str, verdict: Verdict, figures: Vec<Figure>) -> CheckResult {
        CheckResult { checker: checker.to_owned(), verdict, figures, concern: Concern::Safety }
    }

    /// The same result, speaking to `concern`.
    pub fn with_concern(mut self, concern: Concern) -> CheckResult {
        self.concern = concern;
        self
    }

    /// Whether it counts towards the run's validity.
    pub fn is_safety(&self) -> bool {
        self.concern == Concern::Safety
    }

    /// Its verdict in a word, as tables show it: `valid`, `INVALID` or `UNKNOWN` for
    /// safety; for liveness, whether the property was `met` (`NOT MET`, `UNKNOWN`).
    pub fn status(&self) -> &'static str {
        match (self.concern, self.verdict.validity()) {
            (Concern::Safety, Validity::Valid) => "valid",
            (Concern::Safety, Validity::Invalid) => "INVALID",
            (Concern::Liveness, Validity::Valid) => "met",
            (Concern::Liveness, Validity::Invalid) => "NOT MET",
            (_, Validity::Unknown) => "UNKNOWN",
        }
    }
}

impl Report {
    /// The safety verdicts composed: the worst wins, anomalies and reasons are pooled.
    pub fn verdict(&self) -> Verdict {
        self.safety().fold(Verdict::Valid, |acc, r| acc.merge(r.verdict.clone()))
    }

    /// The worst validity of any safety checker: the run's validity.
    pub fn validity(&self) -> Validity {
        self.safety().map(|r| r.verdict.validity()).max().unwrap_or(Validity::Valid)
    }

    /// The results that decide the run's validity.
    pub fn safety(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| r.is_safety())
    }

    /// The liveness results, reported beside the verdict.
    pub fn liveness(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| !r.is_safety())
    }

    /// The process exit code: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(&self) -> i32 {
        self.validity().exit_code()
    }

    /// The result of the checker of this name.
    pub fn result(&self, checker: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.checker == checker)
    }

    fn write_title(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} operations checked", self.ops)?;
        let meta: Vec<String> = self
            .meta
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, v)| format!("{k} {}", plain(v)))
            .collect();
        if !meta.is_empty() {
            write!(f, " ({})", meta.join(", "))?;
        }
        writeln!(f)?;
        if let Some(torn) = &self.torn_tail {
            writeln!(
                f,
                "note: line {} is torn ({} bytes; the harness stopped while writing it) and was skipped",
                torn.line, torn.bytes
            )?;
        }
        writeln!(f)
    }

    fn write_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<24} {:<8} anomalies", "checker", "verdict")?;
        for r in self.safety() {
            write_row(f, r)?;
        }
        writeln!(f, "{:<24} {}", "overall", self.validity())?;
        if self.liveness().next().is_none() {
            return Ok(());
        }
        writeln!(f, "\nliveness (reported beside the verdict, not in it)")?;
        for r in self.liveness() {
            write_row(f, r)?;
        }
        Ok(())
    }

    /// Safety rows, then liveness rows.
    fn rows(&self) -> impl Iterator<Item = &CheckResult> {
        self.safety().chain(self.liveness())
    }

    fn write_details(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in self.rows() {
            match &r.verdict {
                Verdict::Valid => {}
                Verdict::Unknown(reason) => writeln!(f, "\n{}: unknown: {reason}", r.checker)?,
                Verdict::Invalid(groups) => {
                    for g in groups {
                        writeln!(f, "\n{}: {g}", r.checker)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn write_figures(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in self.rows().filter(|r| !r.figures.is_empty()) {
            let figures: Vec<String> = r.figures.iter().map(Figure::to_string).collect();
            writeln!(f, "\n{}: {}", r.checker, figures.join(", "))?;
        }
        Ok(())
    }
}

/// One row of the verdict table: the checker, its status, its anomalies.
fn write_row(f: &mut fmt::Formatter<'_>, r: &CheckResult) -> fmt::Result {
    let kinds: Vec<String> =
        r.verdict.anomalies().iter().map(|g| format!("{} ×{}", g.kind, g.count)).collect();
    let line = format!("{:<24} {:<8} {}", r.checker, r.status(), kinds.join(", "));
    writeln!(f, "{}", line.trim_end())
}

fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_title(f)?;
        self.write_table(f)?;
        self.write_details(f)?;
        self.write_figures(f)
    }
}

#[cfg(test)]
mod tests {
    use crate::suite::{Suite, Workload};
    use crate::testkit::*;

    #[test]
    fn a_report_shows_a_verdict_table_then_each_anomaly() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 5)),
            serving(captured(55, 7, 1000), 1),
            ok(1, debit(7, 5)),
            settled(7, 1495, &[55]),
        ]);
        let report = Suite::new(Workload::Billing).check(&h);
        let expected = "\
5 operations checked

checker                  verdict  anomalies
well-formed              valid
faults                   valid
reach                    valid
charge-without-credit    valid
over-charge              INVALID  over-charge ×1
wrongful-suspension      valid
reconciliation           valid
fail-safe                valid
balance-bounds           valid
contract                 valid
overall                  INVALID

liveness (reported beside the verdict, not in it)
stats                    met
availability             met
recovery                 met

over-charge: over-charge ×1
  first: op 2: the gateway captured 1000 cents from account 7's card (charge 55) although its balance was at least 495 cents since op 1, never below the 100-cent recharge threshold

reach: charge attempts 1, contended charge attempts 0, charge attempts during faults 0

stats: debit ok 1, debit fail 0, debit info 0

availability: debit ok outside faults 1
";
        assert_eq!(report.to_string(), expected);
        assert_eq!(report.exit_code(), 1);
        let json = serde_json::to_string(&report).expect("a report serialises");
        assert_eq!(
            serde_json::from_str::<crate::report::Report>(&json).expect("and reads back"),
            report
        );
    }

    #[test]
    fn an_f_that_never_succeeded_with_money_right_exits_0_and_shows_liveness_not_met() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 5)),
            ok(1, debit(7, 5)),
            invoke(2, payment(7, 50)),
            fail(2, payment(7, 50)),
            settled(7, 495, &[]),
        ]);
        let report = Suite::new(Workload::Billing).check(&h);
        assert_eq!(report.exit_code(), 0);
        assert_eq!(report.verdict(), crate::verdict::Verdict::Valid);
        let text = report.to_string();
        let liveness = "\
overall                  valid

liveness (reported beside the verdict, not in it)
stats                    NOT MET  never-succeeded ×1
availability             met
recovery                 met

stats: never-succeeded ×1
  first: no payment ever succeeded: 1 failed and 0 ended indeterminate (the first at op 4)
";
        assert!(text.contains(liveness), "{text}");
        let json = serde_json::to_value(&report).expect("a report serialises");
        let concerns: Vec<(&str, &str)> = json["results"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| (r["checker"].as_str().unwrap(), r["concern"].as_str().unwrap()))
            .filter(|(_, concern)| *concern == "liveness")
            .collect();
        assert_eq!(
            concerns,
            [("stats", "liveness"), ("availability", "liveness"), ("recovery", "liveness")]
        );
        assert_eq!(json["results"].as_array().unwrap().len(), 13);
    }
}
