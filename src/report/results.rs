//! A run's results as data, for a test to assert on: the verdict, each kind of anomaly
//! each checker found (its first, worst and last, each with the index and time of its
//! earliest witnessing operation), every checker's figures, and the faults, charges and
//! recovery the page shows: the same numbers as `report.html`, gathered from the
//! checkers' [`Report`] and the page's one pass over the history ([`Summary`]), so
//! nothing reads the history again.

use super::summary::{FaultWindow, ScheduledStep, Summary};
use checkers::verdict::{Anomaly, AnomalyGroup, AnomalyKind, Subject};
use checkers::{CheckResult, Concern, Figure, Report, Validity, Verdict};
use serde::Serialize;

/// What a run found. Times are in seconds since the run started, as the history
/// records them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Results {
    /// The safety verdict, which the exit code follows.
    pub verdict: Validity,
    /// How many operations were checked.
    pub ops: u64,
    /// Every checker's row: safety first, then liveness.
    pub checks: Vec<Check>,
    /// Every kind of anomaly each checker found, in the order of `checks`.
    pub anomalies: Vec<Finding>,
    /// Every fault performed, in the order started.
    pub faults: Vec<FaultWindow>,
    /// The scheduled steps that never started.
    pub never_started: Vec<ScheduledStep>,
    /// The card gateway's charges.
    pub charges: Charges,
    /// When the recovery phase began, if it did.
    pub recovery: Option<f64>,
    /// The run's length: the last operation's time.
    pub duration: f64,
}

/// One checker's row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// The checker's name.
    pub checker: String,
    /// Whether it decides the verdict (safety) or is reported beside it (liveness).
    pub concern: Concern,
    /// What it concluded.
    pub validity: Validity,
    /// Why it could not decide, when it could not.
    pub unknown: Option<String>,
    /// Its figures.
    pub figures: Vec<Figure>,
}

/// Every anomaly of one kind a checker found: how many, and the three the report
/// explains.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// The checker that found them.
    pub checker: String,
    /// Whether that checker decides the verdict.
    pub concern: Concern,
    /// Their kind.
    pub kind: AnomalyKind,
    /// How many there were.
    pub count: u64,
    /// The first found (lowest witnessing operation).
    pub first: Found,
    /// The one of greatest magnitude.
    pub worst: Found,
    /// The last found.
    pub last: Found,
}

/// One anomaly.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Found {
    /// What it is about.
    pub subject: Subject,
    /// The report's sentence for it.
    pub explanation: String,
    /// How bad it is, in its kind's unit (cents for money).
    pub magnitude: i64,
    /// The operations that witness it, by index.
    pub ops: Vec<u64>,
    /// The earliest of them, with its time; none if no operation witnesses it.
    pub witness: Option<Witness>,
}

/// An operation of the history, by index and time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Witness {
    /// Its index.
    pub index: u64,
    /// Its time, in seconds since the run started.
    pub time: f64,
}

/// The card gateway's charges, as the faults table counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Charges {
    /// Captured.
    pub captured: u64,
    /// Declined by the card.
    pub declined: u64,
    /// Failed by the gateway (an error before capture, an outage).
    pub failed: u64,
}

impl Results {
    /// The results of `report`, with the figures and witness times `summary` gathered.
    pub fn new(report: &Report, summary: &Summary) -> Results {
        let rows: Vec<&CheckResult> = report.safety().chain(report.liveness()).collect();
        let (captured, declined, failed) = summary.charges;
        Results {
            verdict: report.validity(),
            ops: report.ops,
            checks: rows.iter().map(|r| check(r)).collect(),
            anomalies: rows.iter().flat_map(|r| findings(r, summary)).collect(),
            faults: summary.faults.clone(),
            never_started: summary.never_started.clone(),
            charges: Charges { captured, declined, failed },
            recovery: summary.recovery,
            duration: summary.duration,
        }
    }

    /// The safety finding witnessed earliest, if any: when the run first went wrong.
    pub fn first_anomaly(&self) -> Option<&Finding> {
        let safety = self.anomalies.iter().filter(|f| f.concern == Concern::Safety);
        safety
            .filter(|f| f.first.witness.is_some())
            .min_by_key(|f| f.first.witness.map(|w| w.index))
    }

    /// The row of the checker of this name.
    pub fn check(&self, checker: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.checker == checker)
    }

    /// The findings of this kind, whichever checker found them.
    pub fn of_kind(&self, kind: AnomalyKind) -> impl Iterator<Item = &Finding> {
        self.anomalies.iter().filter(move |f| f.kind == kind)
    }
}

fn check(result: &CheckResult) -> Check {
    let unknown = match &result.verdict {
        Verdict::Unknown(reason) => Some(reason.clone()),
        _ => None,
    };
    Check {
        checker: result.checker.clone(),
        concern: result.concern,
        validity: result.verdict.validity(),
        unknown,
        figures: result.figures.clone(),
    }
}

fn findings<'a>(
    result: &'a CheckResult,
    summary: &'a Summary,
) -> impl Iterator<Item = Finding> + 'a {
    result.verdict.anomalies().iter().map(|group: &AnomalyGroup| Finding {
        checker: result.checker.clone(),
        concern: result.concern,
        kind: group.kind,
        count: group.count,
        first: found(&group.first, summary),
        worst: found(&group.worst, summary),
        last: found(&group.last, summary),
    })
}

fn found(anomaly: &Anomaly, summary: &Summary) -> Found {
    let earliest = anomaly.ops.iter().copied().min();
    let witness = earliest
        .and_then(|index| summary.witnesses.get(&index).map(|w| Witness { index, time: w.time }));
    Found {
        subject: anomaly.subject.clone(),
        explanation: anomaly.explanation.clone(),
        magnitude: anomaly.magnitude,
        ops: anomaly.ops.clone(),
        witness,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{summarize, witnesses};

    /// Account 7 (500 cents, a 100-cent threshold) is charged 1000 cents at 2.5 s (op 4)
    /// for a 5-cent debit, while a pause holds from 1 s to 4.2 s; recovery at 5 s.
    const HISTORY: &str = r#"{"schema":"faultline.history/1","workload":"billing","seed":7}
{"index":0,"time":0,"process":"harness","type":"ok","f":"open","value":{"account":7,"balance":500,"threshold":100,"recharge":1000}}
{"index":1,"time":1000000000,"process":"nemesis","type":"invoke","f":"start","value":{"id":1,"fault":"pause","targets":["redis-1"]}}
{"index":2,"time":1100000000,"process":"nemesis","type":"info","f":"start","value":{"id":1,"fault":"pause","targets":["redis-1"],"observed":true}}
{"index":3,"time":2000000000,"process":3,"type":"invoke","f":"debit","value":{"account":7,"amount":5}}
{"index":4,"time":2500000000,"process":"gateway","type":"ok","f":"charge","value":{"charge":55,"account":7,"amount":1000}}
{"index":5,"time":3000000000,"process":3,"type":"ok","f":"debit","value":{"account":7,"amount":5,"balance":1495}}
{"index":6,"time":4000000000,"process":"nemesis","type":"invoke","f":"heal","value":{"id":1,"fault":"pause","targets":["redis-1"]}}
{"index":7,"time":4200000000,"process":"nemesis","type":"info","f":"heal","value":{"id":1,"fault":"pause","targets":["redis-1"]}}
{"index":8,"time":5000000000,"process":"harness","type":"ok","f":"phase","value":{"phase":"recovery"}}
{"index":9,"time":6000000000,"process":"harness","type":"ok","f":"final","value":{"account":7,"in_flight":1495,"ledger":1495,"suspended":false,"credited":[55]}}
"#;

    fn results() -> (Report, Results) {
        let report = checkers::check(HISTORY.as_bytes()).expect("a readable history");
        let summary = summarize(HISTORY.as_bytes(), &witnesses(&report)).expect("summarised");
        let results = Results::new(&report, &summary);
        (report, results)
    }

    #[test]
    fn each_anomaly_comes_with_its_earliest_witness_index_and_time() {
        let (report, results) = results();
        assert_eq!(results.verdict, Validity::Invalid);
        let over = results.first_anomaly().expect("an anomaly");
        assert_eq!(
            (over.checker.as_str(), over.kind, over.count),
            ("over-charge", AnomalyKind::OverCharge, 1)
        );
        assert_eq!(over.first.subject, Subject::Account(7));
        assert_eq!(over.first.witness, Some(Witness { index: 4, time: 2.5 }));
        let group = &report.result("over-charge").unwrap().verdict.anomalies()[0];
        assert_eq!(over.first.explanation, group.first.explanation);
        assert_eq!(over.first.magnitude, group.first.magnitude);
        assert_eq!(results.of_kind(AnomalyKind::OverCharge).count(), 1);
        let json = serde_json::to_value(&results).expect("results serialise");
        let witness = &json["anomalies"][0]["first"]["witness"];
        assert_eq!(*witness, serde_json::json!({"index": 4, "time": 2.5}));
    }

    #[test]
    fn the_figures_are_the_reports_rows_faults_charges_and_recovery() {
        let (report, results) = results();
        let rows: Vec<(&str, Validity, &[Figure])> = report
            .safety()
            .chain(report.liveness())
            .map(|r| (r.checker.as_str(), r.verdict.validity(), &r.figures[..]))
            .collect();
        let checks: Vec<(&str, Validity, &[Figure])> = results
            .checks
            .iter()
            .map(|c| (c.checker.as_str(), c.validity, &c.figures[..]))
            .collect();
        assert_eq!(checks, rows);
        let stats = results.check("stats").expect("a stats row");
        assert_eq!(stats.concern, Concern::Liveness);
        assert!(stats.figures.contains(&Figure::count("debit ok", 1)), "{:?}", stats.figures);
        assert_eq!(results.faults.len(), 1);
        let pause = &results.faults[0];
        assert_eq!((pause.fault.as_str(), pause.start, pause.end), ("pause", 1.0, Some(4.2)));
        assert_eq!(pause.observed, Some(true));
        assert_eq!(results.charges, Charges { captured: 1, declined: 0, failed: 0 });
        assert_eq!((results.recovery, results.duration, results.ops), (Some(5.0), 6.0, 10));
    }
}
