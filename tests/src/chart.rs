//! The chart of the inventory benchmark: wall time of the seed inventory against the
//! round-trip time, one line per client configuration, with its ideal bound dashed in the
//! same colour, drawn as SVG.
//!
//! The benchmark calls [`write_inventory_svg`] with the numbers it has just measured, so the
//! chart in the README (`docs/inventory.svg`) is regenerated with every run and never
//! carries numbers of its own.
//!
//! ```
//! use ovirt_tests::chart::{inventory_svg, InventoryRow};
//!
//! let row = |series: &str, rtt_ms, wall_ms, bound_ms| InventoryRow {
//!     series: series.to_string(), rtt_ms, wall_ms, bound_ms,
//! };
//! let rows = [
//!     row("one at a time", 0.0, 40.0, None),
//!     row("one at a time", 10.0, 3050.0, None),
//!     row("5 connections x pipeline 8", 0.0, 15.0, Some(0.0)),
//!     row("5 connections x pipeline 8", 10.0, 95.0, Some(95.0)),
//! ];
//! let svg = inventory_svg(&rows).unwrap();
//! assert!(svg.contains("one at a time"));
//! assert!(svg.contains("5 connections x pipeline 8: ideal bound"));
//! ```

use std::io;
use std::path::Path;

use plotters::prelude::*;

/// One measurement: a client configuration (`series`) at one round-trip time.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    /// The configuration, as the legend shows it (`"one at a time"`, `"5 connections"`,
    /// `"5 connections x pipeline 8"`). Rows with the same text form one line, in the order
    /// of their first row.
    pub series: String,
    /// Round-trip time added by the latency emulator, in milliseconds.
    pub rtt_ms: f64,
    /// Measured wall time of the inventory, in milliseconds.
    pub wall_ms: f64,
    /// The configuration's ideal bound at this RTT (the round trips it cannot avoid), in
    /// milliseconds; drawn as a dashed line in the series' colour when given.
    pub bound_ms: Option<f64>,
}

/// Line colours, in the order series first appear.
const COLORS: [RGBColor; 6] = [
    RGBColor(0xc0, 0x39, 0x2b),
    RGBColor(0xe6, 0x7e, 0x22),
    RGBColor(0x27, 0x60, 0xa8),
    RGBColor(0x1e, 0x84, 0x49),
    RGBColor(0x8e, 0x44, 0xad),
    RGBColor(0x55, 0x55, 0x55),
];

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn drawing(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("cannot draw the inventory chart: {e}"))
}

/// Checks the rows: at least one, every number finite and not negative, a series name.
fn check(rows: &[InventoryRow]) -> io::Result<()> {
    if rows.is_empty() {
        return Err(invalid("the inventory chart needs at least one row".into()));
    }
    for (i, row) in rows.iter().enumerate() {
        if row.series.trim().is_empty() {
            return Err(invalid(format!("row {i}: the series name is empty")));
        }
        let numbers = [
            ("round-trip time", Some(row.rtt_ms)),
            ("wall time", Some(row.wall_ms)),
            ("bound", row.bound_ms),
        ];
        for (what, value) in numbers {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(invalid(format!(
                        "row {i} ({}): the {what} must be a finite number of milliseconds >= 0, got {v}",
                        row.series
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The series names in order of first appearance.
fn series_names(rows: &[InventoryRow]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.series.as_str()) {
            names.push(&r.series);
        }
    }
    names
}

/// Draws the chart and returns the SVG document. Time is on a logarithmic axis (the
/// configurations differ by orders of magnitude); times below 1 ms are drawn at 1 ms.
pub fn inventory_svg(rows: &[InventoryRow]) -> io::Result<String> {
    check(rows)?;
    let floor = 1.0;
    let max_rtt = rows.iter().map(|r| r.rtt_ms).fold(1.0, f64::max);
    let max_ms = rows
        .iter()
        .flat_map(|r| [Some(r.wall_ms), r.bound_ms])
        .flatten()
        .fold(floor, f64::max);
    let top = 10f64.powf((max_ms * 1.5).log10().ceil());

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Seed inventory: wall time against round-trip time",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..max_rtt * 1.02, (floor..top).log_scale())
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc("round-trip time (ms)")
            .y_desc("wall time (ms, log scale)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(drawing)?;
        for (k, name) in series_names(rows).into_iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let mut mine: Vec<&InventoryRow> = rows.iter().filter(|r| r.series == name).collect();
            mine.sort_by(|a, b| a.rtt_ms.total_cmp(&b.rtt_ms));
            let points: Vec<(f64, f64)> = mine
                .iter()
                .map(|r| (r.rtt_ms, r.wall_ms.max(floor)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(drawing)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(drawing)?;
            let bound: Vec<(f64, f64)> = mine
                .iter()
                .filter_map(|r| r.bound_ms.map(|b| (r.rtt_ms, b.max(floor))))
                .collect();
            if !bound.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(bound, 6, 4, color.stroke_width(1)))
                    .map_err(drawing)?
                    .label(format!("{name}: ideal bound"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 6, y)], color.stroke_width(1))
                    });
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// Draws the chart (see [`inventory_svg`]) and writes it to `path`, creating the parent
/// directory if needed.
pub fn write_inventory_svg(rows: &[InventoryRow], path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let svg = inventory_svg(rows)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, svg)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(series: &str, rtt_ms: f64, wall_ms: f64, bound_ms: Option<f64>) -> InventoryRow {
        InventoryRow {
            series: series.to_string(),
            rtt_ms,
            wall_ms,
            bound_ms,
        }
    }

    /// The contents of the SVG's `<text>` elements, trimmed.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let start = t.find('>')? + 1;
                let end = t.find("</text>")?;
                Some(t[start..end].trim())
            })
            .collect()
    }

    #[test]
    fn chart_has_a_line_marker_and_legend_entry_per_measurement_and_series() {
        let rows = [
            row("one at a time", 10.0, 3100.0, None),
            row("one at a time", 0.0, 40.0, None),
            row("5 connections", 0.0, 20.0, None),
            row("5 connections", 10.0, 650.0, None),
            row("5 connections x pipeline 8", 0.0, 12.0, Some(0.0)),
            row("5 connections x pipeline 8", 10.0, 90.0, Some(95.0)),
        ];
        let svg = inventory_svg(&rows).unwrap();
        if let Ok(p) = std::env::var("CHART_TEST_DUMP") {
            std::fs::write(p, &svg).unwrap();
        }
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for text in [
            "one at a time",
            "5 connections",
            "5 connections x pipeline 8",
            "5 connections x pipeline 8: ideal bound",
            "round-trip time (ms)",
        ] {
            assert!(texts(&svg).contains(&text), "missing {text:?}");
        }
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(!texts(&svg).contains(&"one at a time: ideal bound"));
    }

    #[test]
    fn bad_rows_are_refused_with_a_message_naming_the_row() {
        let empty = inventory_svg(&[]).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::InvalidInput);
        assert!(empty.to_string().contains("at least one row"), "{empty}");

        let nan =
            inventory_svg(&[row("a", 0.0, 1.0, None), row("b", 5.0, f64::NAN, None)]).unwrap_err();
        assert!(
            nan.to_string().contains("row 1 (b): the wall time"),
            "{nan}"
        );

        let negative = inventory_svg(&[row("a", -1.0, 1.0, None)]).unwrap_err();
        assert!(
            negative.to_string().contains("round-trip time"),
            "{negative}"
        );

        let bound = inventory_svg(&[row("a", 1.0, 1.0, Some(f64::INFINITY))]).unwrap_err();
        assert!(
            bound.to_string().contains("row 0 (a): the bound"),
            "{bound}"
        );

        let unnamed = inventory_svg(&[row(" ", 1.0, 1.0, None)]).unwrap_err();
        assert!(
            unnamed.to_string().contains("series name is empty"),
            "{unnamed}"
        );
    }

    #[test]
    fn writes_the_svg_file_and_its_directory() {
        let dir = std::env::temp_dir().join(format!("ovirt-chart-test-{}", std::process::id()));
        let path = dir.join("docs").join("inventory.svg");
        let rows = [row("one at a time", 0.0, 40.0, Some(1.0))];
        write_inventory_svg(&rows, &path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, inventory_svg(&rows).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The code blocks of the README (the quick start), compiled as doctests of this crate so
/// they stay in step with the API (`cargo test --doc -p ovirt-tests`). Kept here, next to
/// the README's chart, rather than in the published `ovirt` crate, whose package does not
/// contain the README's directory.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The code blocks of http1-pipeline's README, compiled as doctests like the README's.
#[cfg(doctest)]
#[doc = include_str!("../../pipeline-core/README.md")]
pub struct PipelineCoreReadmeDoctests;
