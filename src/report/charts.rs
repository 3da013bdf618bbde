//! Charts with plotters, to SVG strings (inlined in HTML) and PNG files. Text is laid out
//! (and in PNGs drawn) with the DejaVu Sans font embedded through the `dejavu` crate, so
//! no system fonts are needed; SVG text names `sans-serif` and the viewer renders it.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
];
/// Colour of confidence-interval whiskers.
pub const WHISKER: RGBColor = RGBColor(34, 34, 34);
/// Colour of points a comparison flagged.
pub const FLAG: RGBColor = RGBColor(204, 0, 0);

/// A bar with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Grouped bars: one group per x category, one bar per series, with whiskers.
#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub groups: Vec<String>,
    pub series: Vec<String>,
    /// `values[series][group]`.
    pub values: Vec<Vec<Option<Bar>>>,
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Lines over a numeric x axis; optional named ticks replace the numeric labels.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Points to mark (e.g. runs `compare` would flag).
    pub flagged: Vec<(f64, f64)>,
    pub ticks: Option<Vec<(f64, String)>>,
    /// Draw markers at every point (off for dense timelines).
    pub markers: bool,
}

#[derive(Debug, Clone)]
pub enum Chart {
    Bars(BarChart),
    Lines(LineChart),
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

impl Chart {
    pub fn title(&self) -> &str {
        match self {
            Chart::Bars(b) => &b.title,
            Chart::Lines(l) => &l.title,
        }
    }

    fn size(&self) -> (u32, u32) {
        match self {
            Chart::Bars(b) => ((140 * b.groups.len() as u32 * b.series.len().max(1) as u32 / 2).clamp(720, 1600), 480),
            Chart::Lines(_) => (900, 480),
        }
    }

    pub fn to_svg(&self) -> Result<String, String> {
        register_font(); // text layout needs glyph metrics even for SVG
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, self.size()).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(err)?;
        }
        Ok(crate::fmt::xml_chars(&s).into_owned())
    }

    pub fn to_png(&self, path: &Path) -> Result<(), String> {
        register_font();
        let root = BitMapBackend::new(path, self.size()).into_drawing_area();
        self.draw(&root)?;
        root.present().map_err(err)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(err)?;
        match self {
            Chart::Bars(b) => draw_bars(root, b),
            Chart::Lines(l) => draw_lines(root, l),
        }
    }
}

/// Top of the y axis: headroom above the data for the legend box in the upper corner.
fn nice_max(v: f64, legend_entries: usize) -> f64 {
    let room = 1.15 + 0.07 * legend_entries.min(12) as f64;
    // a finite top even for values near f64::MAX, where `v * room` overflows
    if v.is_finite() && v > 0.0 { (v * room).min(f64::MAX / 4.0).max(v) } else { 1.0 }
}

/// Axis numbers without needless decimals.
fn axis_number(v: &f64) -> String {
    let a = v.abs();
    if a >= 10.0 || *v == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn draw_bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, b: &BarChart) -> DrawResult {
    let n = b.groups.len().max(1);
    let top = b.values.iter().flatten().flatten().map(|v| v.hi.max(v.value)).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(&b.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(70)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n as f64, 0f64..nice_max(top, b.series.len()))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_max_light_lines(1)
        .y_label_formatter(&axis_number)
        .y_desc(&b.y_label)
        .x_desc(&b.x_label)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    let s = b.series.len().max(1) as f64;
    let width = 0.8 / s;
    for (j, name) in b.series.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let bars: Vec<(f64, Bar)> = b
            .values
            .get(j)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as f64 + 0.1 + j as f64 * width, v)))
            .collect();
        chart
            .draw_series(
                bars.iter().map(|(x0, v)| Rectangle::new([(*x0 + width * 0.05, 0.0), (*x0 + width * 0.95, v.value)], color.filled())),
            )
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
        for (x0, v) in bars.iter().filter(|(_, v)| v.hi > v.lo) {
            let xc = x0 + width / 2.0;
            let cap = width * 0.2;
            let style = WHISKER.stroke_width(2);
            chart
                .draw_series([
                    PathElement::new(vec![(xc, v.lo), (xc, v.hi)], style),
                    PathElement::new(vec![(xc - cap, v.lo), (xc + cap, v.lo)], style),
                    PathElement::new(vec![(xc - cap, v.hi), (xc + cap, v.hi)], style),
                ])
                .map_err(err)?;
        }
    }
    let ticks: Vec<(f64, String)> = b.groups.iter().enumerate().map(|(i, g)| (i as f64 + 0.5, g.clone())).collect();
    draw_ticks(root, &chart, &ticks, 0.0)?;
    if !b.series.is_empty() {
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// The series legend in a corner the y-axis headroom keeps clear of data.
fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)
}

/// Category labels under the x axis, placed through the chart's own coordinate mapping.
fn draw_ticks<DB: DrawingBackend, X, Y>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<X, Y>>,
    ticks: &[(f64, String)],
    y0: f64,
) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (x, label) in ticks {
        let (px, py) = chart.backend_coord(&(*x, y0));
        let lines: Vec<&str> = label.split('\n').collect();
        for (k, line) in lines.iter().enumerate() {
            root.draw(&Text::new(line.to_string(), (px, py + 8 + 16 * k as i32), style.clone())).map_err(err)?;
        }
    }
    Ok(())
}

fn draw_lines<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, l: &LineChart) -> DrawResult {
    let xs = l.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (mut x0, mut x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if let Some(t) = &l.ticks {
        for (x, _) in t {
            x0 = x0.min(*x);
            x1 = x1.max(*x);
        }
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    let pad = ((x1 - x0) * 0.05).max(0.5);
    let top = l.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    let legend = if l.series.len() <= 12 { l.series.len() + usize::from(!l.flagged.is_empty()) } else { 0 };
    let mut chart = ChartBuilder::on(root)
        .caption(&l.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(if l.ticks.is_some() { 70 } else { 50 })
        .y_label_area_size(80)
        .build_cartesian_2d((x0 - pad)..(x1 + pad), 0f64..nice_max(top, legend))
        .map_err(err)?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(&l.y_label)
        .x_desc(&l.x_label)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .max_light_lines(1)
        .x_label_formatter(&axis_number)
        .y_label_formatter(&axis_number);
    if l.ticks.is_some() {
        mesh.x_labels(0).disable_x_mesh();
    }
    mesh.draw().map_err(err)?;
    for (j, s) in l.series.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(3)));
        if l.markers {
            chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 4, color.filled()))).map_err(err)?;
        }
    }
    if !l.flagged.is_empty() {
        chart
            .draw_series(l.flagged.iter().map(|p| Cross::new(*p, 9, FLAG.stroke_width(3))))
            .map_err(err)?
            .label("flagged by compare (regressed)")
            .legend(|(x, y)| Cross::new((x + 6, y), 6, FLAG.stroke_width(3)));
    }
    if let Some(t) = &l.ticks {
        draw_ticks(root, &chart, t, 0.0)?;
    }
    if !l.series.is_empty() && l.series.len() <= 12 {
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }
    Ok(())
}

/// Hex form of a palette colour as plotters writes it in SVG (`#0072B2`).
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}
