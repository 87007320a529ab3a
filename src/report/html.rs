//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no network):
//! the verdict, each anomaly explained with the operations that witness it, the safety
//! and liveness rows apart, the faults (and scheduled ones that never started), the
//! recovery phase, a timeline of operations per process (and of what each Redis
//! sentinel said about the master), and latency and throughput plots, all with fault
//! windows shaded.

use super::summary::Summary;
use super::{plots, tables};
use checkers::history::OpType;
use checkers::verdict::{Anomaly, AnomalyGroup, Validity};
use checkers::{CheckResult, Report};
use std::fmt::Write;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1040px;color:#222}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}\
.valid{color:#1a7f37}.invalid{color:#c62828}.unknown{color:#b26a00}\
.verdict{font-size:26px;font-weight:700}table{border-collapse:collapse}\
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
code,pre{font:12px ui-monospace,monospace}pre{background:#f6f8fa;padding:8px;overflow-x:auto}\
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}";

/// The whole page.
pub fn render(report: &Report, summary: &Summary) -> String {
    let mut page = String::with_capacity(1 << 20);
    let title = title(report);
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(page, "<h1>{}</h1>", escape(&title));
    verdict(&mut page, report);
    anomalies(&mut page, report, summary);
    tables::checkers(&mut page, report);
    tables::faults(&mut page, summary);
    tables::recovery(&mut page, report, summary);
    register_timeline(&mut page, summary);
    figures(&mut page, summary);
    page.push_str("</body></html>\n");
    page
}

fn title(report: &Report) -> String {
    let get = |k: &str| {
        report.meta.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    match (get("scenario"), get("sut"), get("seed")) {
        (Some(s), Some(sut), Some(seed)) => format!("faultline: {s} against {sut} (seed {seed})"),
        (Some(s), _, _) => format!("faultline: {s}"),
        _ => "faultline report".to_string(),
    }
}

pub(super) fn class(validity: Validity) -> &'static str {
    match validity {
        Validity::Valid => "valid",
        Validity::Invalid => "invalid",
        Validity::Unknown => "unknown",
    }
}

fn verdict(page: &mut String, report: &Report) {
    let validity = report.validity();
    let _ = write!(
        page,
        "<p class=\"verdict {}\">{}</p><p>{} operations checked.</p>",
        class(validity),
        match validity {
            Validity::Valid => "VALID: every invariant held",
            Validity::Invalid => "INVALID: invariants were violated",
            Validity::Unknown => "UNKNOWN: some checker could not decide",
        },
        report.ops
    );
    for result in report.safety() {
        if let checkers::Verdict::Unknown(reason) = &result.verdict {
            let _ = write!(
                page,
                "<p class=\"unknown\">{}: {}</p>",
                escape(&result.checker),
                escape(reason)
            );
        }
    }
    if let Some(torn) = &report.torn_tail {
        let _ = write!(
            page,
            "<p>Note: line {} was torn when the harness stopped, and skipped.</p>",
            torn.line
        );
    }
}

fn anomalies(page: &mut String, report: &Report, summary: &Summary) {
    let safety: Vec<&CheckResult> = report.safety().collect();
    findings(page, "What went wrong", &safety, summary);
    let liveness: Vec<&CheckResult> = report.liveness().collect();
    findings(page, "Liveness findings (reported, not judged)", &liveness, summary);
}

fn findings(page: &mut String, heading: &str, results: &[&CheckResult], summary: &Summary) {
    let groups: Vec<(&CheckResult, &AnomalyGroup)> =
        results.iter().flat_map(|r| r.verdict.anomalies().iter().map(move |g| (*r, g))).collect();
    if groups.is_empty() {
        return;
    }
    let _ = write!(page, "<h2>{heading}</h2>");
    for (result, group) in groups {
        let _ = write!(
            page,
            "<h3 class=\"invalid\">{} &times; {} <small>({})</small></h3>",
            group.count,
            escape(group.kind.name()),
            escape(&result.checker)
        );
        for (label, anomaly) in
            [("first", &group.first), ("worst", &group.worst), ("last", &group.last)]
        {
            if label != "first" && anomaly == &group.first {
                continue;
            }
            explain(page, label, anomaly, summary);
        }
    }
}

fn explain(page: &mut String, label: &str, anomaly: &Anomaly, summary: &Summary) {
    let _ = write!(page, "<p><b>{label}:</b> {}</p>", escape(&anomaly.explanation));
    let lines: Vec<&str> = anomaly
        .ops
        .iter()
        .filter_map(|i| summary.witnesses.get(i).map(|w| w.line.as_str()))
        .collect();
    if !lines.is_empty() {
        let _ = write!(page, "<pre>{}</pre>", escape(&lines.join("\n")));
    }
}

fn figures(page: &mut String, summary: &Summary) {
    page.push_str("<h2>Timeline</h2><p class=\"legend\">");
    for (label, color) in [
        ("ok", "#3c6ec8"),
        ("fail", "#dc5a96"),
        ("info (indeterminate)", "#f09628"),
        ("fault window", "rgba(200,40,40,.25)"),
    ] {
        let _ = write!(page, "<span style=\"background:{color}\"></span>{label}");
    }
    page.push_str("</p>");
    sentinel_legend(page, summary);
    if summary.stride > 1 {
        let _ = write!(page, "<p>One operation in {} is drawn.</p>", summary.stride);
    }
    for (heading, plot) in [
        (None, plots::timeline(summary)),
        (Some("Latency"), plots::latency(summary)),
        (Some("Throughput"), plots::throughput(summary)),
    ] {
        if let Some(h) = heading {
            let _ = write!(page, "<h2>{h}</h2>");
        }
        match plot {
            Ok(svg) => page.push_str(&svg),
            Err(e) => {
                let _ = write!(page, "<p>(could not draw: {})</p>", escape(&e));
            }
        }
    }
    let infos = summary.spans.iter().filter(|s| s.kind == OpType::Info).count();
    let _ = write!(page, "<p>{} operations drawn, {infos} indeterminate.</p>", summary.spans.len());
}

/// The timeline of the first register found not linearizable, when there is one.
fn register_timeline(page: &mut String, summary: &Summary) {
    let Some(timeline) = &summary.register else { return };
    let _ = write!(
        page,
        "<h2>The timeline of key {} (not linearizable)</h2><p>Its operations around the one \
         that cannot be placed, one lane per process: that operation outlined in red, the last \
         operations the search could order before it in black; an operation still running (or \
         indeterminate) is drawn to the end.",
        timeline.key
    );
    if timeline.left_out > 0 {
        let _ = write!(page, " ({} earlier operations of the key not drawn.)", timeline.left_out);
    }
    page.push_str("</p>");
    match super::register::plot(timeline, &summary.faults) {
        Ok(svg) => page.push_str(&svg),
        Err(e) => {
            let _ = write!(page, "<p>(could not draw: {})</p>", escape(&e));
        }
    }
}

/// The sentinel lanes' marks, when the history has any.
fn sentinel_legend(page: &mut String, summary: &Summary) {
    if summary.sentinel.is_empty() {
        return;
    }
    page.push_str(
        "<p class=\"legend\">Above the clients, one lane per Redis sentinel: what it said about \
         the master, when.",
    );
    for (label, c) in [
        ("+sdown: this sentinel cannot reach the master", plots::SDOWN),
        ("+odown: enough sentinels agree it is down", plots::ODOWN),
        ("+switch-master (→ the new master)", plots::SWITCH),
        ("+convert-to-slave", plots::CONVERT),
    ] {
        let color = format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2);
        let _ = write!(page, "<span style=\"background:{color}\"></span>{}", escape(label));
    }
    if summary.sentinel_unmarked > 0 {
        let _ = write!(page, " ({} later sentinel events not marked.)", summary.sentinel_unmarked);
    }
    page.push_str("</p>");
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::verdict::{AnomalyKind, Subject};
    use checkers::{Concern, Verdict};

    fn invalid(checker: &str, kind: AnomalyKind, explanation: &str) -> CheckResult {
        let anomaly = Anomaly {
            kind,
            subject: Subject::F("debit".into()),
            explanation: explanation.into(),
            ops: vec![],
            magnitude: 1,
        };
        CheckResult::new(checker, Verdict::Invalid(vec![AnomalyGroup::new(anomaly)]), vec![])
    }

    #[test]
    fn liveness_findings_are_apart_from_what_went_wrong() {
        let report = Report {
            meta: Default::default(),
            ops: 0,
            torn_tail: None,
            results: vec![
                invalid("stats", AnomalyKind::NeverSucceeded, "debit never succeeded")
                    .with_concern(Concern::Liveness),
                invalid("over-charge", AnomalyKind::OverCharge, "charged twice"),
            ],
        };
        let page = render(&report, &Summary::default());
        let wrong = page.find("<h2>What went wrong</h2>").unwrap();
        let liveness = page.find("<h2>Liveness findings").unwrap();
        let (safety_finding, liveness_finding) =
            (page.find("charged twice").unwrap(), page.find("debit never succeeded").unwrap());
        assert!(wrong < safety_finding && safety_finding < liveness);
        assert!(liveness < liveness_finding);
    }

    #[test]
    fn the_timeline_marks_what_each_sentinel_said_with_its_name() {
        use super::super::summary::{Said, SentinelMark, Span};
        let mark =
            |sentinel: &str, time, said| SentinelMark { sentinel: sentinel.into(), time, said };
        let span = |process, start, end, kind| Span {
            process,
            f: "debit".into(),
            kind,
            start,
            end,
            index: 0,
        };
        let summary = Summary {
            spans: vec![span(0, 0.2, 1.5, OpType::Info), span(1, 0.3, 0.6, OpType::Ok)],
            duration: 4.0,
            stride: 1,
            sentinel: vec![
                mark("sentinel-0", 1.1, Said::SubjectivelyDown),
                mark("sentinel-1", 1.2, Said::SubjectivelyDown),
                mark("sentinel-1", 1.3, Said::ObjectivelyDown),
                mark("sentinel-0", 2.4, Said::SwitchMaster(Some("redis-1".into()))),
                mark("sentinel-1", 3.4, Said::SwitchMaster(Some("redis-1".into()))),
                mark("sentinel-1", 3.5, Said::ConvertToReplica),
            ],
            ..Summary::default()
        };
        let report = Report { meta: Default::default(), ops: 0, torn_tail: None, results: vec![] };
        let page = render(&report, &summary);
        assert!(page.contains("one lane per Redis sentinel"), "the legend explains the lanes");
        for text in ["sentinel-0", "sentinel-1", "→ redis-1"] {
            assert!(page.contains(text), "{text} is drawn");
        }
        assert!(!render(&report, &Summary::default()).contains("Redis sentinel"));
    }
}
