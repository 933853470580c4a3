//! SVG charts for the tools' results: bars for a few named rows (the demo's phases), and
//! lines over a numeric axis (the benchmarks' clients across concurrency), drawn with
//! `plotters`' SVG backend only.
//!
//! The SVG holds `<text>` elements in a generic sans-serif font, so it renders with
//! whatever fonts the viewer has (a browser, `rsvg-convert`); no font is compiled in.
//! Text sizes are estimated, so labels are given room rather than measured.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor;

/// Colours of the series, in order (colour-blind friendly: Okabe and Ito's palette).
pub const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// The colour of series `i`.
pub fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

const FONT: &str = "sans-serif";

/// One panel of a bar chart: a title and one value per row (`None`: not measured).
#[derive(Clone, Debug)]
pub struct BarPanel {
    /// The panel's title, with its unit.
    pub title: String,
    /// One value per row.
    pub values: Vec<Option<f64>>,
}

/// Draws `panels` side by side, each a horizontal bar per row named in `rows`, under
/// `title`, into the SVG file `path`. Each bar is labelled with its value.
pub fn bar_panels(
    path: &Path,
    title: &str,
    rows: &[String],
    panels: &[BarPanel],
) -> Result<(), String> {
    let label_px = rows.iter().map(|r| r.chars().count()).max().unwrap_or(0) as u32 * 7 + 20;
    let width = label_px + 300 * panels.len() as u32;
    let height = 90 + 34 * rows.len() as u32;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    draw_bars(&root, title, rows, panels, label_px)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    root.present()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn draw_bars(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    rows: &[String],
    panels: &[BarPanel],
    label_px: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 20))?;
    let (labels, rest) = root.split_horizontally(label_px);
    let n = rows.len();
    // The row names, aligned with the bars of every panel (same top and bottom margins).
    {
        let mut names = ChartBuilder::on(&labels)
            .margin_top(30)
            .margin_bottom(10)
            .x_label_area_size(25)
            .build_cartesian_2d(0f64..1f64, (0..n.saturating_sub(1).max(1)).into_segmented())?;
        names
            .configure_mesh()
            .disable_mesh()
            .disable_axes()
            .x_labels(2)
            .y_labels(n.max(1))
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|_| String::new())
            .draw()?;
        for (i, row) in rows.iter().enumerate() {
            names.draw_series(std::iter::once(Text::new(
                row.clone(),
                (0.02, SegmentValue::CenterOf(n - 1 - i)),
                TextStyle::from((FONT, 13).into_font()).pos(text_anchor::Pos::new(
                    text_anchor::HPos::Left,
                    text_anchor::VPos::Center,
                )),
            )))?;
        }
    }
    let areas = rest.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        let max = panel
            .values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let top = if max > 0.0 { max * 1.25 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, (FONT, 15))
            .margin(10)
            .x_label_area_size(25)
            .build_cartesian_2d(0f64..top, (0..n.saturating_sub(1).max(1)).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n.max(1))
            .y_label_formatter(&|_| String::new())
            .x_labels(4)
            .x_label_formatter(&|v| short_number(*v))
            .draw()?;
        for (i, value) in panel.values.iter().enumerate() {
            let y = n - 1 - i;
            let Some(v) = value.filter(|v| v.is_finite()) else {
                chart.draw_series(std::iter::once(Text::new(
                    "n/a",
                    (0.0, SegmentValue::CenterOf(y)),
                    (FONT, 12).into_font(),
                )))?;
                continue;
            };
            let bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(y)),
                    (v, SegmentValue::Exact(y + 1)),
                ],
                color(i).mix(0.85).filled(),
            );
            chart.draw_series(std::iter::once(bar))?;
            chart.draw_series(std::iter::once(Text::new(
                short_number(v),
                (v, SegmentValue::CenterOf(y)),
                TextStyle::from((FONT, 12).into_font()).pos(text_anchor::Pos::new(
                    text_anchor::HPos::Left,
                    text_anchor::VPos::Center,
                )),
            )))?;
        }
    }
    Ok(())
}

/// One line of a line chart: a value per category (`None`: not measured).
#[derive(Clone, Debug)]
pub struct Series {
    /// The legend's name.
    pub name: String,
    /// One value per category of [`Axes::categories`], in order.
    pub values: Vec<Option<f64>>,
}

/// Axes of a line chart: named categories along x (concurrencies, percentiles), evenly
/// spaced, and numbers up y.
#[derive(Clone, Debug)]
pub struct Axes {
    /// The chart's title.
    pub title: String,
    /// The x axis' description.
    pub x: String,
    /// The y axis' description.
    pub y: String,
    /// The x categories, left to right.
    pub categories: Vec<String>,
    /// Put the legend in the upper left corner (for lines that rise to the right).
    pub legend_left: bool,
}

/// Draws `series` as lines with markers into the SVG file `path`, with a legend.
pub fn lines(path: &Path, axes: &Axes, series: &[Series]) -> Result<(), String> {
    let root = SVGBackend::new(path, (860, 520)).into_drawing_area();
    draw_lines(&root, axes, series).map_err(|e| format!("{}: {e}", path.display()))?;
    root.present()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn draw_lines(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    axes: &Axes,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let n = axes.categories.len().max(1);
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .filter(|y| y.is_finite())
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(&axes.title, (FONT, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (0..n.saturating_sub(1).max(1)).into_segmented(),
            0.0..(top * 1.15).max(1e-9),
        )?;
    let names = axes.categories.clone();
    chart
        .configure_mesh()
        .x_desc(&axes.x)
        .y_desc(&axes.y)
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .x_label_style((FONT, 13))
        .y_label_formatter(&|v| short_number(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .disable_x_mesh()
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let c = color(i);
        let pts: Vec<(SegmentValue<usize>, f64)> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(x, y)| {
                y.filter(|y| y.is_finite())
                    .map(|y| (SegmentValue::CenterOf(x), y))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .position(if axes.legend_left {
            SeriesLabelPosition::UpperLeft
        } else {
            SeriesLabelPosition::UpperRight
        })
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

/// A number for a label: `12.3`, `4 560`, `38.5k`, `1.2M`.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels() {
        let dir = std::env::temp_dir().join(format!("chart-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let bars = dir.join("bars.svg");
        bar_panels(
            &bars,
            "phases",
            &["(a) one".to_owned(), "(b) two".to_owned()],
            &[
                BarPanel {
                    title: "dials".into(),
                    values: vec![Some(4614.0), Some(99.0)],
                },
                BarPanel {
                    title: "CPU µs/request".into(),
                    values: vec![Some(68.7), None],
                },
            ],
        )
        .expect("bars");
        let svg = std::fs::read_to_string(&bars).expect("svg");
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{}",
            &svg[..40]
        );
        for text in ["(a) one", "dials", "4614", "68.7", "n/a"] {
            assert!(svg.contains(text), "{text} missing");
        }
        let line = dir.join("lines.svg");
        lines(
            &line,
            &Axes {
                title: "req/s".into(),
                x: "connections".into(),
                y: "requests/s".into(),
                categories: vec!["1".into(), "64".into()],
                legend_left: false,
            },
            &[Series {
                name: "engine".into(),
                values: vec![Some(10.0), None],
            }],
        )
        .expect("lines");
        let svg = std::fs::read_to_string(&line).expect("svg");
        assert!(svg.contains("engine") && svg.contains("64"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(short_number(38_541.0), "38.5k");
        assert_eq!(short_number(7.354), "7.35");
        assert_eq!(short_number(4614.0), "4614");
    }
}
