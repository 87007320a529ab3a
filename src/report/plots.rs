//! The report's SVG plots, drawn with plotters: a timeline of operations per process
//! (with a lane per Redis sentinel marking what it said about the master), latency over
//! time, and throughput over time, each with fault windows shaded.

use super::summary::{Bucket, FaultWindow, Said, SentinelMark, Span, Summary};
use checkers::history::OpType;
use plotters::coord::Shift;
use plotters::prelude::*;

const WIDTH: u32 = 1000;
const OK: RGBColor = RGBColor(60, 110, 200);
const FAIL: RGBColor = RGBColor(220, 90, 150);
const INFO: RGBColor = RGBColor(240, 150, 40);
const FAULT: RGBAColor = RGBAColor(200, 40, 40, 0.12);
/// What a sentinel said: `+sdown` and `+odown` on the master, `+switch-master`,
/// `+convert-to-slave`; the HTML legend repeats them.
pub const SDOWN: RGBColor = RGBColor(230, 160, 0);
/// See [`SDOWN`].
pub const ODOWN: RGBColor = RGBColor(200, 40, 40);
/// See [`SDOWN`].
pub const SWITCH: RGBColor = RGBColor(30, 30, 30);
/// See [`SDOWN`].
pub const CONVERT: RGBColor = RGBColor(120, 60, 170);

type Result<T> = std::result::Result<T, String>;
/// A series of the throughput plot: its label, colour, and which count it draws.
type Series = (&'static str, RGBColor, fn(&Bucket) -> u64);

pub(super) fn color(kind: OpType) -> RGBColor {
    match kind {
        OpType::Fail => FAIL,
        OpType::Info => INFO,
        _ => OK,
    }
}

pub(super) fn draw(
    height: u32,
    paint: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        paint(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

pub(super) fn shade<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, impl Ranged<ValueType = f64>>,
    >,
    faults: &[FaultWindow],
    duration: f64,
    (low, high): (f64, f64),
) -> Result<()> {
    let windows = faults.iter().map(|w| {
        Rectangle::new([(w.start, low), (w.end.unwrap_or(duration), high)], FAULT.filled())
    });
    chart.draw_series(windows).map_err(|e| e.to_string())?;
    Ok(())
}

/// Every client operation as a bar from invocation to completion, one lane per process;
/// above them, one lane per sentinel with a mark for each thing it said about the master.
pub fn timeline(summary: &Summary) -> Result<String> {
    let mut lanes: Vec<u32> = summary.spans.iter().map(|s| s.process).collect();
    lanes.sort_unstable();
    lanes.dedup();
    let lane = |p: u32| lanes.binary_search(&p).unwrap_or(0) as f64;
    let mut sentinels: Vec<&str> = summary.sentinel.iter().map(|m| m.sentinel.as_str()).collect();
    sentinels.sort_unstable();
    sentinels.dedup();
    let rows = (lanes.len() + sentinels.len()) as f64;
    let height = (60 + 8 * lanes.len() as u32 + 24 * sentinels.len() as u32).clamp(160, 900);
    let duration = summary.duration.max(1.0);
    draw(height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..duration, -0.5f64..rows - 0.5)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("process")
            .disable_y_mesh()
            .y_labels(0)
            .draw()
            .map_err(|e| e.to_string())?;
        shade(&mut chart, &summary.faults, duration, (-0.5, rows - 0.5))?;
        let bars = summary.spans.iter().map(|s: &Span| {
            let y = lane(s.process);
            let end = s.end.max(s.start + duration / 2000.0);
            Rectangle::new([(s.start, y - 0.35), (end, y + 0.35)], color(s.kind).filled())
        });
        chart.draw_series(bars).map_err(|e| e.to_string())?;
        let sentinel_lane =
            |name: &str| (lanes.len() + sentinels.binary_search(&name).unwrap_or(0)) as f64;
        let names = sentinels.iter().map(|&name| {
            Text::new(name.to_string(), (0.0, sentinel_lane(name) + 0.45), ("sans-serif", 11))
        });
        chart.draw_series(names).map_err(|e| e.to_string())?;
        let at = |m: &SentinelMark| (m.time, sentinel_lane(&m.sentinel));
        let marks = summary.sentinel.iter();
        let said = |wanted: fn(&Said) -> bool| marks.clone().filter(move |m| wanted(&m.said));
        let draw_err = |e: DrawingAreaErrorKind<_>| e.to_string();
        let sdown = said(|s| *s == Said::SubjectivelyDown);
        let odown = said(|s| *s == Said::ObjectivelyDown);
        let convert = said(|s| *s == Said::ConvertToReplica);
        let switch = || said(|s| matches!(s, Said::SwitchMaster(_)));
        chart
            .draw_series(sdown.map(|m| TriangleMarker::new(at(m), 5, SDOWN.filled())))
            .map_err(draw_err)?;
        chart
            .draw_series(odown.map(|m| TriangleMarker::new(at(m), 6, ODOWN.filled())))
            .map_err(draw_err)?;
        chart
            .draw_series(convert.map(|m| Cross::new(at(m), 5, CONVERT.stroke_width(2))))
            .map_err(draw_err)?;
        chart
            .draw_series(switch().map(|m| Circle::new(at(m), 4, SWITCH.filled())))
            .map_err(draw_err)?;
        let masters = switch().filter_map(|m| match &m.said {
            Said::SwitchMaster(Some(master)) => {
                let (x, y) = at(m);
                Some(Text::new(format!("→ {master}"), (x, y - 0.1), ("sans-serif", 10)))
            }
            _ => None,
        });
        chart.draw_series(masters).map_err(draw_err)?;
        Ok(())
    })
}

/// Latency of every kept operation against its completion time, log scale.
pub fn latency(summary: &Summary) -> Result<String> {
    let duration = summary.duration.max(1.0);
    let millis = |s: &Span| ((s.end - s.start) * 1000.0).max(0.01);
    let max = summary.spans.iter().map(millis).fold(1.0f64, f64::max) * 1.5;
    draw(320, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .caption("latency (ms, log scale)", ("sans-serif", 14))
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..duration, (0.01f64..max).log_scale())
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("seconds").y_desc("ms").draw().map_err(|e| e.to_string())?;
        shade(&mut chart, &summary.faults, duration, (0.01, max))?;
        let points = summary
            .spans
            .iter()
            .map(|s| Circle::new((s.end, millis(s)), 2, color(s.kind).filled()));
        chart.draw_series(points).map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Completions per second: ok, fail and info.
pub fn throughput(summary: &Summary) -> Result<String> {
    let duration = summary.duration.max(1.0);
    let top =
        summary.throughput.iter().map(|b| b.ok.max(b.fail).max(b.info)).max().unwrap_or(1).max(1)
            as f64
            * 1.1;
    draw(320, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .caption("throughput (completions per second)", ("sans-serif", 14))
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..duration, 0f64..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("ops/s")
            .draw()
            .map_err(|e| e.to_string())?;
        shade(&mut chart, &summary.faults, duration, (0.0, top))?;
        let series: [Series; 3] =
            [("ok", OK, |b| b.ok), ("fail", FAIL, |b| b.fail), ("info", INFO, |b| b.info)];
        for (label, color, pick) in series {
            let line = summary
                .throughput
                .iter()
                .enumerate()
                .map(|(s, b)| (s as f64 + 0.5, pick(b) as f64));
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}
