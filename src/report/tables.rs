//! The page's tables: the checkers (safety, which decides the verdict, apart from
//! liveness, which is reported beside it), the faults with the scheduled steps that
//! never started, and the recovery phase's figures.

use super::html::{class, escape};
use super::summary::Summary;
use checkers::{CheckResult, Report};
use std::fmt::Write;

/// Safety rows, then liveness rows, each in a table of its own.
pub(super) fn checkers(page: &mut String, report: &Report) {
    page.push_str("<h2>Safety <small>(decides the verdict)</small></h2>");
    rows(page, report.safety());
    let liveness: Vec<&CheckResult> = report.liveness().collect();
    if !liveness.is_empty() {
        page.push_str("<h2>Liveness <small>(reported beside the verdict, not judged)</small></h2>");
        rows(page, liveness.into_iter());
    }
}

fn rows<'a>(page: &mut String, results: impl Iterator<Item = &'a CheckResult>) {
    page.push_str("<table><tr><th>checker</th><th>verdict</th><th>figures</th></tr>");
    for result in results {
        let validity = result.verdict.validity();
        let detail = match &result.verdict {
            checkers::Verdict::Unknown(reason) => format!(" ({reason})"),
            _ => String::new(),
        };
        let figures: Vec<String> =
            result.figures.iter().map(|f| format!("{} {}", f.name, f.value)).collect();
        let _ = write!(
            page,
            "<tr><td>{}</td><td class=\"{}\">{validity}{}</td><td>{}</td></tr>",
            escape(&result.checker),
            class(validity),
            escape(&detail),
            escape(&figures.join(", "))
        );
    }
    page.push_str("</table>");
}

/// Every fault performed, with its step and what its heal declared, then the steps
/// that never started.
pub(super) fn faults(page: &mut String, summary: &Summary) {
    page.push_str("<h2>Faults</h2>");
    if summary.faults.is_empty() && summary.never_started.is_empty() {
        page.push_str("<p>No fault was injected.</p>");
        return;
    }
    page.push_str("<table><tr><th>step</th><th>fault</th><th>targets</th><th>from (s)</th><th>healed (s)</th><th>took effect</th><th>the heal declares</th></tr>");
    for w in &summary.faults {
        let end = w.end.map_or_else(|| "never".to_string(), |e| format!("{e:.1}"));
        let observed = match w.observed {
            Some(true) => "yes",
            Some(false) => "<b class=\"unknown\">no</b>",
            None => "not checked",
        };
        let step = w.step.map_or_else(|| "-".to_string(), |s| s.to_string());
        let _ = write!(
            page,
            "<tr><td>{step}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{end}</td><td>{observed}</td><td>{}</td></tr>",
            escape(&w.fault),
            escape(&w.targets.join(", ")),
            w.start,
            escape(w.declared.as_deref().unwrap_or("")),
        );
    }
    for s in &summary.never_started {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td></td><td>{:.1}</td><td></td><td><b class=\"unknown\">never started</b></td><td></td></tr>",
            s.step,
            escape(&s.fault),
            s.at as f64 / 1e9,
        );
    }
    let _ = write!(
        page,
        "</table><p>Card charges captured: {}, declined: {}, failed by the gateway: {}.</p>",
        summary.charges.0, summary.charges.1, summary.charges.2
    );
}

/// When the recovery phase began, and whether and when each operation kind succeeded
/// again: the figures of the `recovery` checker.
pub(super) fn recovery(page: &mut String, report: &Report, summary: &Summary) {
    page.push_str("<h2>Recovery</h2>");
    let Some(began) = summary.recovery else {
        page.push_str("<p>No recovery phase: clients did not run again after the heal.</p>");
        return;
    };
    let _ = write!(
        page,
        "<p>Every fault healed; clients ran again, with no fault, from {began:.1} s.</p>"
    );
    let figures: Vec<_> =
        report.result("recovery").map(|r| r.figures.iter().collect()).unwrap_or_default();
    if figures.is_empty() {
        return;
    }
    page.push_str("<table><tr><th>figure</th><th>value</th></tr>");
    for figure in figures {
        let _ = write!(page, "<tr><td>{}</td><td>{}</td></tr>", escape(&figure.name), figure.value);
    }
    page.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::ScheduledStep;
    use checkers::{Concern, Figure, Verdict};

    #[test]
    fn liveness_rows_stand_apart_from_safety_and_recovery_figures_are_shown() {
        let report = Report {
            meta: Default::default(),
            ops: 0,
            torn_tail: None,
            results: vec![
                CheckResult::new("conservation", Verdict::Valid, vec![]),
                CheckResult::new(
                    "recovery",
                    Verdict::Unknown("debit never ok again".into()),
                    vec![Figure::count("debit ok again after", 2)],
                )
                .with_concern(Concern::Liveness),
            ],
        };
        let summary = Summary { recovery: Some(31.5), ..Summary::default() };
        let mut page = String::new();
        checkers(&mut page, &report);
        recovery(&mut page, &report, &summary);
        let safety = page.find("<h2>Safety").unwrap();
        let liveness = page.find("<h2>Liveness").unwrap();
        assert!(safety < page.find("conservation").unwrap());
        assert!(liveness < page.find("debit never ok again").unwrap());
        assert!(
            page.contains("from 31.5 s")
                && page.contains("<td>debit ok again after</td><td>2</td>"),
            "{page}"
        );
    }

    #[test]
    fn a_step_that_never_started_is_listed_as_such() {
        let step = ScheduledStep { step: 0, fault: "resync-storm".into(), at: 5_000_000_000 };
        let summary = Summary { never_started: vec![step], ..Summary::default() };
        let mut page = String::new();
        faults(&mut page, &summary);
        assert!(page.contains("<td>0</td><td>resync-storm</td><td></td><td>5.0</td>"), "{page}");
        assert!(page.contains("never started"), "{page}");
    }
}
