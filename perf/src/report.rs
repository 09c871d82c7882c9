//! The harness's results as data: one `CellReport` per (workload, parameter, system),
//! written as JSON and drawn as SVG charts (plotters' SVG backend; its built-in text
//! layout, no system fonts).

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::{BoxError, Measure, Summary};

/// One cell of the results table.
#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    /// Workload id: W1 … W6.
    pub workload: String,
    /// What varies within the workload, in words ("16 threads", "batch 100", "4096 B").
    pub label: String,
    /// The varying parameter's value (threads, batch size, record bytes, …).
    pub param: u64,
    /// System name.
    pub system: String,
    /// What an acknowledgement means for this system in this cell.
    pub durability: String,
    /// Whether each acknowledged record was durable (fdatasync or O_SYNC) before the
    /// call returned; a timer-only or unsynced cell is not comparable to one that is.
    pub per_record_durable: bool,
    /// Records per second in each round (the figures the median is over).
    pub rounds_records_per_s: Vec<f64>,
    /// Medians over the rounds (flattened into the JSON object).
    #[serde(flatten)]
    pub summary: Summary,
    /// The reference this cell's ratio is to, in words.
    pub reference: Option<String>,
    /// The reference's records per second.
    pub reference_per_s: Option<f64>,
    /// records_per_s / reference_per_s.
    pub ratio: Option<f64>,
    /// CPU time of the appending threads per record, ns (median over rounds).
    pub caller_cpu_ns_per_record: Option<f64>,
    /// CPU time of the whole process per record, ns (median over rounds).
    pub process_cpu_ns_per_record: Option<f64>,
    /// Wall time per record per appending thread, ns.
    pub wall_ns_per_record: Option<f64>,
    /// What the row is, where its system needs explaining (the raw O_DIRECT loop: its
    /// depth, bytes per write, and in W2 that it is an open-loop physical reference).
    pub note: Option<String>,
    /// Latency CDF over all rounds: (µs, fraction of calls at or below).
    pub cdf: Vec<(f64, f64)>,
}

impl CellReport {
    /// A cell from its rounds (`None` if there were none); ratio fields start empty.
    pub fn from_rounds(
        workload: &str,
        label: &str,
        param: u64,
        system: &str,
        durability: &str,
        per_record_durable: bool,
        rounds: &[Measure],
    ) -> Result<Option<CellReport>, BoxError> {
        let Some(s) = Summary::of(rounds) else {
            return Ok(None);
        };
        let Some(first) = rounds.first() else {
            return Ok(None);
        };
        let mut all = first.latency_ns.clone();
        for m in rounds.iter().skip(1) {
            all.add(&m.latency_ns)?;
        }
        let median_of = |f: &dyn Fn(&Measure) -> Option<f64>| {
            let mut v: Vec<f64> = rounds.iter().filter_map(f).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v.get(v.len() / 2).copied()
        };
        let per_rec =
            |ns: Option<u64>, m: &Measure| ns.map(|ns| ns as f64 / m.records.max(1) as f64);
        Ok(Some(CellReport {
            workload: workload.to_owned(),
            label: label.to_owned(),
            param,
            system: system.to_owned(),
            durability: durability.to_owned(),
            per_record_durable,
            rounds_records_per_s: rounds.iter().map(Measure::records_per_s).collect(),
            summary: s,
            reference: None,
            reference_per_s: None,
            ratio: None,
            caller_cpu_ns_per_record: median_of(&|m| per_rec(m.caller_cpu_ns, m)),
            process_cpu_ns_per_record: median_of(&|m| per_rec(m.process_cpu_ns, m)),
            wall_ns_per_record: None,
            note: None,
            cdf: cdf_points(&all),
        }))
    }

    /// Sets the reference the ratio is to.
    pub fn set_reference(&mut self, name: &str, per_s: f64) {
        self.reference = Some(name.to_owned());
        self.reference_per_s = Some(per_s);
        self.ratio = (per_s > 0.0).then(|| self.summary.records_per_s / per_s);
    }
}

fn cdf_points(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    // Dense in the tail: 0..0.9 by 0.05, then 0.9, 0.99, 0.999, 0.9999 with steps.
    let mut qs: Vec<f64> = (0..18).map(|i| i as f64 * 0.05).collect();
    for decade in 1..=4 {
        let base = 1.0 - 10f64.powi(-decade);
        let step = 10f64.powi(-decade - 1);
        qs.extend((0..9).map(|i| base + i as f64 * step));
    }
    qs.push(1.0);
    qs.iter()
        .map(|&q| (h.value_at_quantile(q) as f64 / 1000.0, q))
        .collect()
}

/// The whole run, as written by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// When the run started (UTC, from `date -u` style seconds since the epoch).
    pub started_unix_s: u64,
    /// `uname -r`.
    pub kernel: String,
    /// Online CPUs.
    pub cpus: usize,
    /// The command line's settings in words.
    pub settings: String,
    /// Every cell.
    pub cells: Vec<CellReport>,
    /// W2's bound lines: (threads, threads × raw serial rate).
    pub bounds: Vec<(u64, f64)>,
    /// Things the run could not do, and why.
    pub notes: Vec<String>,
}

/// Writes `r` to `path` as pretty JSON.
pub fn write_json(path: &Path, r: &RunReport) -> Result<(), BoxError> {
    std::fs::write(path, serde_json::to_vec_pretty(r)?)?;
    Ok(())
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 0, 0),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
];

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points (x, y), in x order.
    pub points: Vec<(f64, f64)>,
    /// Dashed reference line (drawn thinner, without markers).
    pub reference: bool,
}

/// Axes of a chart.
#[derive(Debug, Clone)]
pub struct Axes {
    /// Title above the plot.
    pub title: String,
    /// x-axis description.
    pub x_desc: String,
    /// y-axis description.
    pub y_desc: String,
    /// Log scale on x.
    pub x_log: bool,
    /// Log scale on y.
    pub y_log: bool,
}

fn range_of(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        if v.is_finite() && (!log || v > 0.0) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() {
        return (if log { 1.0 } else { 0.0 }, 1.0);
    }
    if log {
        (lo / 1.5, hi * 1.5)
    } else {
        (lo.min(0.0), hi * 1.05 + f64::EPSILON)
    }
}

/// Draws `series` as an SVG line chart at `path`.
pub fn line_chart(path: &Path, axes: &Axes, series: &[Series]) -> Result<(), BoxError> {
    let pts = || series.iter().flat_map(|s| s.points.iter().copied());
    let (x0, x1) = range_of(pts().map(|p| p.0), axes.x_log);
    let (y0, y1) = range_of(pts().map(|p| p.1), axes.y_log);
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&axes.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(84);
    // The four scale combinations are four chart types in plotters.
    match (axes.x_log, axes.y_log) {
        (true, true) => {
            let mut c = builder
                .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
                .map_err(err)?;
            c.configure_mesh()
                .x_desc(&axes.x_desc)
                .y_desc(&axes.y_desc)
                .y_label_formatter(&|v| human(*v))
                .x_label_formatter(&|v| human(*v))
                .draw()
                .map_err(err)?;
            draw_series(&mut c, series)?;
        }
        (true, false) => {
            let mut c = builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(err)?;
            c.configure_mesh()
                .x_desc(&axes.x_desc)
                .y_desc(&axes.y_desc)
                .x_label_formatter(&|v| human(*v))
                .draw()
                .map_err(err)?;
            draw_series(&mut c, series)?;
        }
        (false, true) => {
            let mut c = builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(err)?;
            c.configure_mesh()
                .x_desc(&axes.x_desc)
                .y_desc(&axes.y_desc)
                .y_label_formatter(&|v| human(*v))
                .draw()
                .map_err(err)?;
            draw_series(&mut c, series)?;
        }
        (false, false) => {
            let mut c = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
            c.configure_mesh()
                .x_desc(&axes.x_desc)
                .y_desc(&axes.y_desc)
                .draw()
                .map_err(err)?;
            draw_series(&mut c, series)?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

fn draw_series<'a, X, Y>(
    c: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    series: &[Series],
) -> Result<(), BoxError>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE.get(i % PALETTE.len()).copied().unwrap_or(BLACK);
        let width = if s.reference { 1 } else { 2 };
        let style = color.stroke_width(width);
        if s.reference {
            c.draw_series(DashedLineSeries::new(s.points.iter().copied(), 6, 4, style))
                .map_err(err)?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        } else {
            c.draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(err)?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            c.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

fn err<E: std::fmt::Display>(e: E) -> BoxError {
    e.to_string().into()
}

/// 1234567 -> "1.23M", 1500 -> "1.5k", 12 -> "12".
pub fn human(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = if a < 1.0 {
        format!("{scaled:.2}")
    } else {
        format!("{scaled:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    };
    format!("{text}{suffix}")
}
