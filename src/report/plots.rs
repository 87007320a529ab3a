//! The report's SVG plots, drawn with plotters: a timeline of operations per process,
//! latency over time, and throughput over time, each with fault windows shaded.

use super::summary::{Bucket, FaultWindow, Span, Summary};
use checkers::history::OpType;
use plotters::coord::Shift;
use plotters::prelude::*;

const WIDTH: u32 = 1000;
const OK: RGBColor = RGBColor(60, 110, 200);
const FAIL: RGBColor = RGBColor(220, 90, 150);
const INFO: RGBColor = RGBColor(240, 150, 40);
const FAULT: RGBAColor = RGBAColor(200, 40, 40, 0.12);

type Result<T> = std::result::Result<T, String>;
/// A series of the throughput plot: its label, colour, and which count it draws.
type Series = (&'static str, RGBColor, fn(&Bucket) -> u64);

fn color(kind: OpType) -> RGBColor {
    match kind {
        OpType::Fail => FAIL,
        OpType::Info => INFO,
        _ => OK,
    }
}

fn draw(
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

fn shade<'a, DB: DrawingBackend + 'a>(
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

/// Every client operation as a bar from invocation to completion, one lane per process.
pub fn timeline(summary: &Summary) -> Result<String> {
    let mut lanes: Vec<u32> = summary.spans.iter().map(|s| s.process).collect();
    lanes.sort_unstable();
    lanes.dedup();
    let lane = |p: u32| lanes.binary_search(&p).unwrap_or(0) as f64;
    let height = (60 + 8 * lanes.len() as u32).clamp(160, 900);
    let duration = summary.duration.max(1.0);
    draw(height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..duration, -0.5f64..lanes.len() as f64 - 0.5)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("process")
            .disable_y_mesh()
            .y_labels(0)
            .draw()
            .map_err(|e| e.to_string())?;
        shade(&mut chart, &summary.faults, duration, (-0.5, lanes.len() as f64 - 0.5))?;
        let bars = summary.spans.iter().map(|s: &Span| {
            let y = lane(s.process);
            let end = s.end.max(s.start + duration / 2000.0);
            Rectangle::new([(s.start, y - 0.35), (end, y + 0.35)], color(s.kind).filled())
        });
        chart.draw_series(bars).map_err(|e| e.to_string())?;
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
