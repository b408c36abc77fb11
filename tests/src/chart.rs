//! The chart of the inventory benchmark: wall time of the seed inventory against the
//! round-trip time, one line per way of sending the requests, drawn as SVG.
//!
//! The benchmark calls [`write_inventory_svg`] with the numbers it has just measured, so the
//! chart in the README (`docs/inventory.svg`) is regenerated with every run and never
//! carries numbers of its own.
//!
//! ```
//! use ovirt_tests::chart::{inventory_svg, InventoryRow};
//!
//! let rows = [
//!     InventoryRow { rtt_ms: 0.0, one_at_a_time_ms: Some(40.0), connections_ms: Some(20.0),
//!                    pipelined_ms: Some(15.0), bound_ms: Some(0.0) },
//!     InventoryRow { rtt_ms: 10.0, one_at_a_time_ms: Some(3050.0), connections_ms: Some(640.0),
//!                    pipelined_ms: Some(95.0), bound_ms: Some(60.0) },
//! ];
//! let svg = inventory_svg(&rows).unwrap();
//! assert!(svg.contains("one at a time"));
//! ```

use std::io;
use std::path::Path;

use plotters::prelude::*;

/// The measured times of the inventory at one round-trip time, in milliseconds. A `None`
/// leaves the point out (a mode that was not measured at this RTT).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InventoryRow {
    /// Round-trip time added by the latency emulator.
    pub rtt_ms: f64,
    /// Every request sent after the previous answer arrived (one request in flight).
    pub one_at_a_time_ms: Option<f64>,
    /// Several connections, one request in flight on each (what the official SDKs do
    /// today with `connections`, their `pipeline` option having no effect).
    pub connections_ms: Option<f64>,
    /// Several connections, each carrying a pipeline of requests.
    pub pipelined_ms: Option<f64>,
    /// The ideal bound of the pipelined configuration: the round trips it cannot avoid.
    pub bound_ms: Option<f64>,
}

/// The lines of the chart: legend text, colour, dashed, and how to read the value.
type Series = (
    &'static str,
    RGBColor,
    bool,
    fn(&InventoryRow) -> Option<f64>,
);

const SERIES: [Series; 4] = [
    ("one at a time", RGBColor(0xc0, 0x39, 0x2b), false, |r| {
        r.one_at_a_time_ms
    }),
    ("connections only", RGBColor(0xe6, 0x7e, 0x22), false, |r| {
        r.connections_ms
    }),
    (
        "connections + pipelining",
        RGBColor(0x27, 0x60, 0xa8),
        false,
        |r| r.pipelined_ms,
    ),
    ("ideal bound", RGBColor(0x55, 0x55, 0x55), true, |r| {
        r.bound_ms
    }),
];

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn drawing(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("cannot draw the inventory chart: {e}"))
}

/// Checks the rows: at least one, every number finite and not negative, at least one
/// measured time.
fn check(rows: &[InventoryRow]) -> io::Result<()> {
    if rows.is_empty() {
        return Err(invalid("the inventory chart needs at least one row".into()));
    }
    let mut any = false;
    for (i, row) in rows.iter().enumerate() {
        if !row.rtt_ms.is_finite() || row.rtt_ms < 0.0 {
            return Err(invalid(format!(
                "row {i}: the round-trip time must be a finite number of milliseconds >= 0, got {}",
                row.rtt_ms
            )));
        }
        for (name, _, _, value) in &SERIES {
            if let Some(v) = value(row) {
                if !v.is_finite() || v < 0.0 {
                    return Err(invalid(format!(
                        "row {i} (RTT {} ms): the {name} time must be a finite number of \
                         milliseconds >= 0, got {v}",
                        row.rtt_ms
                    )));
                }
                any = true;
            }
        }
    }
    if !any {
        return Err(invalid(
            "the inventory chart needs at least one measured time".into(),
        ));
    }
    Ok(())
}

/// Draws the chart and returns the SVG document. Time is on a logarithmic axis (the modes
/// differ by orders of magnitude); times below 1 ms are drawn at 1 ms.
pub fn inventory_svg(rows: &[InventoryRow]) -> io::Result<String> {
    check(rows)?;
    let mut sorted = rows.to_vec();
    sorted.sort_by(|a, b| a.rtt_ms.total_cmp(&b.rtt_ms));
    let floor = 1.0;
    let max_rtt = sorted.last().map_or(1.0, |r| r.rtt_ms).max(1.0);
    let max_ms = sorted
        .iter()
        .flat_map(|r| SERIES.iter().filter_map(move |s| (s.3)(r)))
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
        for (name, color, dashed, value) in &SERIES {
            let points: Vec<(f64, f64)> = sorted
                .iter()
                .filter_map(|r| value(r).map(|v| (r.rtt_ms, v.max(floor))))
                .collect();
            if points.is_empty() {
                continue;
            }
            let style = color.stroke_width(2);
            let series = if *dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style))
            };
            let color = *color;
            series.map_err(drawing)?.label(*name).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
            });
            if !dashed {
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(drawing)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
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

    fn row(rtt: f64, values: [Option<f64>; 4]) -> InventoryRow {
        InventoryRow {
            rtt_ms: rtt,
            one_at_a_time_ms: values[0],
            connections_ms: values[1],
            pipelined_ms: values[2],
            bound_ms: values[3],
        }
    }

    #[test]
    fn chart_has_a_line_and_a_legend_entry_per_measured_mode() {
        let rows = [
            row(10.0, [Some(3100.0), Some(650.0), Some(90.0), Some(60.0)]),
            row(0.0, [Some(40.0), Some(20.0), Some(12.0), Some(0.0)]),
            row(2.0, [Some(640.0), Some(140.0), Some(25.0), Some(12.0)]),
        ];
        let svg = inventory_svg(&rows).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for name in [
            "one at a time",
            "connections only",
            "connections + pipelining",
            "ideal bound",
            "round-trip time (ms)",
        ] {
            assert!(svg.contains(name), "missing {name:?}");
        }
        // Three measured modes get three round markers per RTT; the bound none.
        assert_eq!(svg.matches("<circle").count(), 9);
    }

    #[test]
    fn modes_without_numbers_are_left_out() {
        let rows = [
            row(0.0, [Some(40.0), None, Some(12.0), None]),
            row(20.0, [Some(6100.0), None, Some(140.0), None]),
        ];
        let svg = inventory_svg(&rows).unwrap();
        assert!(svg.contains("connections + pipelining"));
        assert!(!svg.contains("connections only"));
        assert!(!svg.contains("ideal bound"));
        assert_eq!(svg.matches("<circle").count(), 4);
    }

    #[test]
    fn bad_rows_are_refused_with_a_message_naming_the_row() {
        let empty = inventory_svg(&[]).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::InvalidInput);
        assert!(empty.to_string().contains("at least one row"), "{empty}");

        let nan = inventory_svg(&[
            row(0.0, [Some(1.0); 4]),
            row(5.0, [Some(1.0), Some(f64::NAN), None, None]),
        ])
        .unwrap_err();
        assert!(
            nan.to_string()
                .contains("row 1 (RTT 5 ms): the connections only time"),
            "{nan}"
        );

        let negative_rtt = inventory_svg(&[row(-1.0, [Some(1.0); 4])]).unwrap_err();
        assert!(
            negative_rtt.to_string().contains("round-trip time"),
            "{negative_rtt}"
        );

        let nothing = inventory_svg(&[row(0.0, [None; 4])]).unwrap_err();
        assert!(
            nothing.to_string().contains("at least one measured time"),
            "{nothing}"
        );
    }

    #[test]
    fn writes_the_svg_file_and_its_directory() {
        let dir = std::env::temp_dir().join(format!("ovirt-chart-test-{}", std::process::id()));
        let path = dir.join("docs").join("inventory.svg");
        let rows = [row(0.0, [Some(40.0), Some(20.0), Some(12.0), Some(1.0)])];
        write_inventory_svg(&rows, &path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, inventory_svg(&rows).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
