//! Runs that ended unknown: not a found bug and not a pass either, so an exploration
//! counts them and says why, rather than passing them silently.

use checkers::{Report, Validity, Verdict};
use std::collections::BTreeMap;
use std::fmt;

/// The runs of an exploration whose verdict was unknown, by the safety checker that
/// could not decide.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unknowns {
    /// Runs that ended unknown.
    pub runs: u32,
    /// For each checker that was unknown: in how many runs, and its first reason.
    pub reasons: BTreeMap<String, (u32, String)>,
}

impl Unknowns {
    /// Counts `report` if its verdict is unknown.
    pub fn count(&mut self, report: &Report) {
        if report.validity() != Validity::Unknown {
            return;
        }
        self.runs += 1;
        for result in report.safety() {
            if let Verdict::Unknown(reason) = &result.verdict {
                let entry =
                    self.reasons.entry(result.checker.clone()).or_insert((0, reason.clone()));
                entry.0 += 1;
            }
        }
    }
}

impl fmt::Display for Unknowns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} run(s) ended unknown", self.runs)?;
        for (checker, (runs, first)) in &self.reasons {
            write!(f, "\n  {checker} in {runs} run(s), e.g.: {first}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::CheckResult;

    fn report(results: Vec<CheckResult>) -> Report {
        Report { meta: Default::default(), ops: 0, torn_tail: None, results }
    }

    #[test]
    fn unknown_runs_are_counted_with_their_reasons_and_others_are_not() {
        let unknown = |why: &str| CheckResult::new("faults", Verdict::Unknown(why.into()), vec![]);
        let liveness = CheckResult::new("stats", Verdict::Unknown("no read".into()), vec![])
            .with_concern(checkers::Concern::Liveness);
        let mut unknowns = Unknowns::default();
        unknowns.count(&report(vec![unknown("step 0 never started")]));
        unknowns.count(&report(vec![unknown("step 1 never started")]));
        unknowns.count(&report(vec![liveness]));
        unknowns.count(&report(vec![CheckResult::new("stats", Verdict::Valid, vec![])]));
        assert_eq!(unknowns.runs, 2);
        assert_eq!(
            unknowns.reasons,
            BTreeMap::from([("faults".to_string(), (2, "step 0 never started".to_string()))])
        );
        assert_eq!(
            unknowns.to_string(),
            "2 run(s) ended unknown\n  faults in 2 run(s), e.g.: step 0 never started"
        );
    }
}
