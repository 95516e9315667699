//! SVG charts as pure functions: data and caller-translated labels in, SVG text out.
//!
//! The SVG is small and self-contained: generic `sans-serif` font (nothing fetched),
//! presentation attributes rather than `style` (the server's CSP forbids inline styles),
//! `role="img"` with `<title>` and `<desc>` for screen readers, and dashes as well as
//! colours so a black-and-white print still tells the lines apart. Tick labels are
//! formatted with [`crate::format_number`] for the document's language.

use std::fmt::Write;

use crate::html::push_escaped;
use crate::number::format_number;
use crate::Lang;

/// SVG text made by this crate's chart functions (labels escaped, no scripts), so it can be
/// embedded in HTML and PDF as is. Not constructible from outside the crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(String);

impl Svg {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Text every chart carries. All of it is translated by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChartText {
    pub title: String,
    /// A sentence for screen readers saying what the chart shows.
    pub description: String,
    pub x_label: String,
    pub y_label: String,
}

/// A point estimate with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RocLabels {
    pub text: ChartText,
    /// e.g. "AUC".
    pub auc: String,
    /// e.g. "95% CI" / "KTC 95%".
    pub interval: String,
    /// Legend for the diagonal, e.g. "Chance" / "Ngẫu nhiên".
    pub chance: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalibrationLabels {
    pub text: ChartText,
    /// Legend for the diagonal, e.g. "Perfect calibration".
    pub perfect: String,
    /// Legend for the points, e.g. "Observed (marker area ∝ n)".
    pub observed: String,
}

/// One bin of a calibration plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationBin {
    pub mean_predicted: f64,
    pub observed: f64,
    pub count: u64,
}

/// A KPI over periods, for [`line_chart_svg`] and [`bar_chart_svg`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KpiSeries {
    /// Period labels on the x axis (e.g. "Q1/2026"), one per value.
    pub periods: Vec<String>,
    /// `None` is a period without data, drawn as a gap.
    pub values: Vec<Option<f64>>,
    pub target: Option<f64>,
    /// Fixed y range (e.g. 0 to 100 for percentages); computed from the data if `None`.
    pub y_range: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KpiLabels {
    pub text: ChartText,
    /// Legend for the target line, e.g. "Target 90%".
    pub target: String,
    /// Written at periods without data, e.g. "no data" / "không có số liệu".
    pub missing: String,
}

const INK: &str = "#1a1a1a";
const GRID: &str = "#d9d9d9";
const SERIES: &str = "#1f4e79";
const REFERENCE: &str = "#6b6b6b";
const TARGET: &str = "#a33a1f";
const BAR: &str = "#5b8db8";

/// The drawing area of a chart in SVG user units.
#[derive(Clone, Copy)]
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

impl Frame {
    fn x(&self, fraction: f64) -> f64 {
        self.left + fraction * self.width
    }
    fn y(&self, fraction: f64) -> f64 {
        self.top + (1.0 - fraction) * self.height
    }
    fn bottom(&self) -> f64 {
        self.top + self.height
    }
    fn right(&self) -> f64 {
        self.left + self.width
    }
}

fn open_svg(out: &mut String, width: u32, height: u32, text: &ChartText, extra_desc: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\""
    );
    push_escaped(out, &text.title);
    out.push_str("\" font-family=\"sans-serif\" font-size=\"13\">\n<title>");
    push_escaped(out, &text.title);
    out.push_str("</title>\n<desc>");
    push_escaped(out, &text.description);
    if !extra_desc.is_empty() {
        if !text.description.is_empty() {
            out.push(' ');
        }
        push_escaped(out, extra_desc);
    }
    out.push_str("</desc>\n");
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    push_text(
        out,
        f64::from(width) / 2.0,
        22.0,
        "middle",
        15,
        "bold",
        &text.title,
    );
}

fn push_text(out: &mut String, x: f64, y: f64, anchor: &str, size: u32, weight: &str, text: &str) {
    let _ = write!(
        out,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" font-size=\"{size}\" fill=\"{INK}\""
    );
    if weight != "normal" {
        let _ = write!(out, " font-weight=\"{weight}\"");
    }
    out.push('>');
    push_escaped(out, text);
    out.push_str("</text>\n");
}

fn push_axis_labels(out: &mut String, frame: Frame, text: &ChartText) {
    push_text(
        out,
        frame.x(0.5),
        frame.bottom() + 40.0,
        "middle",
        13,
        "normal",
        &text.x_label,
    );
    let (x, y) = (16.0, frame.y(0.5));
    let _ = write!(
        out,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" fill=\"{INK}\" transform=\"rotate(-90 {x:.1} {y:.1})\">"
    );
    push_escaped(out, &text.y_label);
    out.push_str("</text>\n");
}

/// Grid and tick labels for an axis from 0 to 1 on both sides.
fn push_unit_grid(out: &mut String, frame: Frame, lang: Lang) {
    for step in 0..=5 {
        let fraction = f64::from(step) / 5.0;
        let label = format_number(fraction, 1, lang);
        let (x, y) = (frame.x(fraction), frame.y(fraction));
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{GRID}\"/>",
            frame.top,
            frame.bottom()
        );
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>",
            frame.left,
            frame.right()
        );
        push_text(
            out,
            x,
            frame.bottom() + 18.0,
            "middle",
            12,
            "normal",
            &label,
        );
        push_text(out, frame.left - 6.0, y + 4.0, "end", 12, "normal", &label);
    }
    push_frame(out, frame);
}

fn push_frame(out: &mut String, frame: Frame) {
    let _ = writeln!(
        out,
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"{INK}\"/>",
        frame.left, frame.top, frame.width, frame.height
    );
}

/// One legend entry: a short line sample and its text, at the given row below the title.
fn push_legend_entry(
    out: &mut String,
    x: f64,
    y: f64,
    colour: &str,
    dash: Option<&str>,
    text: &str,
) {
    let _ = write!(
        out,
        "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"2.5\"",
        x + 24.0
    );
    if let Some(dash) = dash {
        let _ = write!(out, " stroke-dasharray=\"{dash}\"");
    }
    out.push_str("/>\n");
    push_text(out, x + 30.0, y + 4.0, "start", 12, "normal", text);
}

fn unit(value: f64) -> Option<f64> {
    value.is_finite().then(|| value.clamp(0.0, 1.0))
}

/// A ROC curve: the points are (false positive rate, true positive rate); they are sorted
/// and joined from (0, 0) to (1, 1). Non-finite points are dropped, the rest clamped to [0, 1].
pub fn roc_curve_svg(points: &[(f64, f64)], auc: Estimate, labels: &RocLabels, lang: Lang) -> Svg {
    let auc_text = format!(
        "{} {} ({} {}–{})",
        labels.auc,
        format_number(auc.value, 3, lang),
        labels.interval,
        format_number(auc.lower, 3, lang),
        format_number(auc.upper, 3, lang)
    );
    let (width, height) = (480, 470);
    let frame = Frame {
        left: 64.0,
        top: 60.0,
        width: 380.0,
        height: 350.0,
    };
    let mut out = String::with_capacity(4096);
    open_svg(&mut out, width, height, &labels.text, &auc_text);
    push_unit_grid(&mut out, frame, lang);
    push_axis_labels(&mut out, frame, &labels.text);

    let _ = writeln!(
        out,
        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{REFERENCE}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
        frame.x(0.0),
        frame.y(0.0),
        frame.x(1.0),
        frame.y(1.0)
    );

    let mut curve: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|&(fpr, tpr)| Some((unit(fpr)?, unit(tpr)?)))
        .collect();
    curve.push((0.0, 0.0));
    curve.push((1.0, 1.0));
    curve.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    curve.dedup();
    out.push_str("<path d=\"");
    for (i, (fpr, tpr)) in curve.iter().enumerate() {
        let command = if i == 0 { 'M' } else { 'L' };
        let _ = write!(out, "{command}{:.1} {:.1} ", frame.x(*fpr), frame.y(*tpr));
    }
    let _ = writeln!(
        out,
        "\" fill=\"none\" stroke=\"{SERIES}\" stroke-width=\"2.5\" stroke-linejoin=\"round\"/>"
    );

    // Legend inside the plot, bottom right, where a ROC curve never goes.
    let legend_x = frame.x(0.42);
    push_legend_entry(&mut out, legend_x, frame.y(0.16), SERIES, None, &auc_text);
    push_legend_entry(
        &mut out,
        legend_x,
        frame.y(0.07),
        REFERENCE,
        Some("6 4"),
        &labels.chance,
    );
    out.push_str("</svg>");
    Svg(out)
}

/// A calibration plot: observed frequency against mean predicted probability per bin,
/// with the diagonal of perfect calibration. Marker area grows with the bin's count.
pub fn calibration_svg(bins: &[CalibrationBin], labels: &CalibrationLabels, lang: Lang) -> Svg {
    let (width, height) = (480, 470);
    let frame = Frame {
        left: 64.0,
        top: 60.0,
        width: 380.0,
        height: 350.0,
    };
    let mut out = String::with_capacity(4096);
    open_svg(&mut out, width, height, &labels.text, "");
    push_unit_grid(&mut out, frame, lang);
    push_axis_labels(&mut out, frame, &labels.text);
    let _ = writeln!(
        out,
        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{REFERENCE}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
        frame.x(0.0),
        frame.y(0.0),
        frame.x(1.0),
        frame.y(1.0)
    );

    let mut points: Vec<(f64, f64, u64)> = bins
        .iter()
        .filter_map(|bin| Some((unit(bin.mean_predicted)?, unit(bin.observed)?, bin.count)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let largest = points.iter().map(|p| p.2).max().unwrap_or(0).max(1);
    if points.len() > 1 {
        out.push_str("<path d=\"");
        for (i, (predicted, observed, _)) in points.iter().enumerate() {
            let command = if i == 0 { 'M' } else { 'L' };
            let _ = write!(
                out,
                "{command}{:.1} {:.1} ",
                frame.x(*predicted),
                frame.y(*observed)
            );
        }
        let _ = writeln!(
            out,
            "\" fill=\"none\" stroke=\"{SERIES}\" stroke-width=\"2\"/>"
        );
    }
    for (predicted, observed, count) in &points {
        // Area proportional to count, between 3 and 9 units of radius.
        let radius = 3.0 + 6.0 * (*count as f64 / largest as f64).sqrt();
        let _ = writeln!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{radius:.1}\" fill=\"{SERIES}\" fill-opacity=\"0.55\" stroke=\"{SERIES}\"/>",
            frame.x(*predicted),
            frame.y(*observed)
        );
    }
    let legend_x = frame.x(0.42);
    push_legend_entry(
        &mut out,
        legend_x,
        frame.y(0.16),
        SERIES,
        None,
        &labels.observed,
    );
    push_legend_entry(
        &mut out,
        legend_x,
        frame.y(0.07),
        REFERENCE,
        Some("6 4"),
        &labels.perfect,
    );
    out.push_str("</svg>");
    Svg(out)
}

/// Tick positions covering `[low, high]` at a 1-2-5 step, and the decimals they need.
fn nice_ticks(low: f64, high: f64) -> (Vec<f64>, usize) {
    let span = (high - low).max(f64::EPSILON * high.abs().max(1.0));
    let raw_step = span / 5.0;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).floor() * step;
    let last = (high / step).ceil() * step;
    let count = ((last - first) / step).round() as usize;
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let ticks = (0..=count.min(20))
        .map(|i| first + i as f64 * step)
        .collect();
    (ticks, decimals)
}

/// The y range shown for a KPI chart: the caller's, or the data and target widened to
/// nice ticks, including zero when all values are positive and zero is not far away.
fn kpi_axis(series: &KpiSeries, include_zero: bool) -> (f64, f64, Vec<f64>, usize) {
    if let Some((low, high)) = series
        .y_range
        .filter(|(l, h)| l.is_finite() && h.is_finite() && h > l)
    {
        let (ticks, decimals) = nice_ticks(low, high);
        let ticks = ticks
            .into_iter()
            .filter(|t| *t >= low - 1e-9 && *t <= high + 1e-9)
            .collect();
        return (low, high, ticks, decimals);
    }
    let finite = series
        .values
        .iter()
        .flatten()
        .chain(series.target.iter())
        .copied()
        .filter(|v| v.is_finite());
    let (mut low, mut high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !low.is_finite() {
        (low, high) = (0.0, 1.0);
    }
    if include_zero {
        low = low.min(0.0);
        high = high.max(0.0);
    }
    if high - low < 1e-12 {
        high = low + 1.0;
    }
    let (ticks, decimals) = nice_ticks(low, high);
    let low = ticks.first().copied().unwrap_or(low);
    let high = ticks.last().copied().unwrap_or(high);
    (low, high, ticks, decimals)
}

struct KpiLayout {
    frame: Frame,
    low: f64,
    high: f64,
    slot: f64,
}

impl KpiLayout {
    fn y(&self, value: f64) -> f64 {
        self.frame
            .y(((value - self.low) / (self.high - self.low)).clamp(0.0, 1.0))
    }
    fn x_center(&self, index: usize) -> f64 {
        self.frame.left + self.slot * (index as f64 + 0.5)
    }
}

/// Shared frame, grid, axes, period labels and gap marks of the KPI charts.
fn open_kpi_chart(
    out: &mut String,
    series: &KpiSeries,
    labels: &KpiLabels,
    lang: Lang,
    include_zero: bool,
) -> KpiLayout {
    let (width, height) = (640, 380);
    let frame = Frame {
        left: 72.0,
        top: 48.0,
        width: 544.0,
        height: 270.0,
    };
    let missing = series.values.iter().filter(|v| v.is_none()).count();
    let extra = if missing > 0 && !labels.missing.is_empty() {
        format!("{}: {missing}.", labels.missing)
    } else {
        String::new()
    };
    open_svg(out, width, height, &labels.text, &extra);
    let (low, high, ticks, decimals) = kpi_axis(series, include_zero);
    let periods = series.periods.len().max(series.values.len()).max(1);
    let layout = KpiLayout {
        frame,
        low,
        high,
        slot: frame.width / periods as f64,
    };
    for tick in ticks {
        let y = layout.y(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>",
            frame.left,
            frame.right()
        );
        push_text(
            out,
            frame.left - 6.0,
            y + 4.0,
            "end",
            12,
            "normal",
            &format_number(tick, decimals, lang),
        );
    }
    // Label at most about 12 periods so they stay readable on paper.
    let every = periods.div_ceil(12);
    for (i, period) in series.periods.iter().enumerate() {
        if i % every == 0 {
            push_text(
                out,
                layout.x_center(i),
                frame.bottom() + 18.0,
                "middle",
                11,
                "normal",
                period,
            );
        }
    }
    for (i, value) in series.values.iter().enumerate() {
        if value.is_none() {
            let x = layout.x_center(i);
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{REFERENCE}\" stroke-dasharray=\"2 3\"/>",
                frame.top,
                frame.bottom()
            );
        }
    }
    push_frame(out, frame);
    push_axis_labels(out, frame, &labels.text);
    layout
}

fn push_kpi_target(out: &mut String, layout: &KpiLayout, series: &KpiSeries, labels: &KpiLabels) {
    let Some(target) = series.target.filter(|t| t.is_finite()) else {
        return;
    };
    let y = layout.y(target);
    let frame = layout.frame;
    let _ = writeln!(
        out,
        "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{TARGET}\" stroke-width=\"2\" stroke-dasharray=\"8 4\"/>",
        frame.left,
        frame.right()
    );
    push_legend_entry(
        out,
        frame.left,
        frame.bottom() + 52.0,
        TARGET,
        Some("8 4"),
        &labels.target,
    );
    if !labels.missing.is_empty() && series.values.iter().any(Option::is_none) {
        push_legend_entry(
            out,
            frame.x(0.5),
            frame.bottom() + 52.0,
            REFERENCE,
            Some("2 3"),
            &labels.missing,
        );
    }
}

/// A KPI over time as a line; periods without data break the line (a gap, not a zero).
pub fn line_chart_svg(series: &KpiSeries, labels: &KpiLabels, lang: Lang) -> Svg {
    let mut out = String::with_capacity(4096);
    let layout = open_kpi_chart(&mut out, series, labels, lang, false);
    let mut path = String::new();
    let mut pen_down = false;
    for (i, value) in series.values.iter().enumerate() {
        match value.filter(|v| v.is_finite()) {
            Some(v) => {
                let command = if pen_down { 'L' } else { 'M' };
                let _ = write!(
                    path,
                    "{command}{:.1} {:.1} ",
                    layout.x_center(i),
                    layout.y(v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = writeln!(
            out,
            "<path d=\"{}\" fill=\"none\" stroke=\"{SERIES}\" stroke-width=\"2.5\" stroke-linejoin=\"round\"/>",
            path.trim_end()
        );
    }
    // Markers too, so a value between two gaps is still visible.
    for (i, value) in series.values.iter().enumerate() {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            let _ = writeln!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{SERIES}\"/>",
                layout.x_center(i),
                layout.y(v)
            );
        }
    }
    push_kpi_target(&mut out, &layout, series, labels);
    out.push_str("</svg>");
    Svg(out)
}

/// A KPI per period as bars from zero; periods without data have no bar.
pub fn bar_chart_svg(series: &KpiSeries, labels: &KpiLabels, lang: Lang) -> Svg {
    let mut out = String::with_capacity(4096);
    let layout = open_kpi_chart(&mut out, series, labels, lang, true);
    let baseline = layout.y(0.0_f64.clamp(layout.low, layout.high));
    let bar_width = layout.slot * 0.6;
    for (i, value) in series.values.iter().enumerate() {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            let y = layout.y(v);
            let (top, height) = if y < baseline {
                (y, baseline - y)
            } else {
                (baseline, y - baseline)
            };
            let _ = writeln!(
                out,
                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{bar_width:.1}\" height=\"{height:.1}\" fill=\"{BAR}\" stroke=\"{SERIES}\"/>",
                layout.x_center(i) - bar_width / 2.0
            );
        }
    }
    push_kpi_target(&mut out, &layout, series, labels);
    out.push_str("</svg>");
    Svg(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_cover_the_range_at_round_steps() {
        let (ticks, decimals) = nice_ticks(3.2, 97.0);
        assert_eq!(ticks.first().copied(), Some(0.0));
        assert_eq!(ticks.last().copied(), Some(100.0));
        assert_eq!(decimals, 0);
        let (ticks, decimals) = nice_ticks(0.81, 0.93);
        assert!(ticks[0] <= 0.81 && *ticks.last().unwrap_or(&0.0) >= 0.93);
        assert_eq!(decimals, 2);
    }
}
