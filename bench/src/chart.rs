//! latest.png: throughput against the number of secrets, ours vs raw, one panel per operation
//! and connection count, plus the ours/raw ratios against their targets.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::RangedCoordi32;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::Result;
use crate::report::{Comparison, RETRIEVE_TARGET, STORE_TARGET, int};
use crate::results::{Implementation, Operation, Results};

/// DejaVu Sans from Debian's fonts-dejavu-core (plotters' ab_glyph text needs a TTF).
const FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";

fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for (file, style) in [
                ("DejaVuSans.ttf", FontStyle::Normal),
                ("DejaVuSans-Bold.ttf", FontStyle::Bold),
            ] {
                let path = format!("{FONT_DIR}/{file}");
                let bytes = std::fs::read(&path).map_err(|e| {
                    format!("{path}: {e} (install Debian's fonts-dejavu-core; bench/run does)")
                })?;
                plotters::style::register_font("sans-serif", style, Box::leak(bytes.into()))
                    .map_err(|_| format!("{path} is not a usable font"))?;
            }
            Ok(())
        })
        .clone()
        .map_err(Into::into)
}

const OURS: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const RAW: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const FLOOR: RGBColor = RGBColor(0x70, 0x70, 0x70);
/// One color per connection count in the ratio panels.
const RATIO_COLORS: [RGBColor; 4] = [
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x8c, 0x56, 0x4b),
];

struct Series {
    label: String,
    color: RGBColor,
    /// Dashed with triangles for synchronous_commit off, solid with circles for on.
    dashed: bool,
    /// (index into the run's sizes, value).
    points: Vec<(usize, f64)>,
}

type Area<'b> = DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>;
type XCoord = SegmentedCoord<RangedCoordi32>;

/// The sizes as evenly spaced categories (1,000 / 100,000 / 1,000,000).
fn x_axis(results: &Results) -> XCoord {
    (0..results.config.sizes.len().max(1) as i32 - 1).into_segmented()
}

fn at(index: usize) -> SegmentValue<i32> {
    SegmentValue::CenterOf(index as i32)
}

fn size_label(results: &Results, value: &SegmentValue<i32>) -> String {
    match value {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => results
            .config
            .sizes
            .get(*i as usize)
            .map(|&n| int(n))
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

fn draw_series<'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<XCoord, Y>>,
    series: &[Series],
    legend_at: SeriesLabelPosition,
) -> Result<()> {
    for s in series {
        let color = s.color;
        let points: Vec<(SegmentValue<i32>, f64)> =
            s.points.iter().map(|&(i, y)| (at(i), y)).collect();
        let line = if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(
                    points.clone(),
                    10,
                    6,
                    color.stroke_width(3),
                ))
                .map_err(|e| e.to_string())?
        } else {
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))
                .map_err(|e| e.to_string())?
        };
        let dashed = s.dashed;
        line.label(&s.label).legend(move |(x, y)| {
            let segments = if dashed {
                vec![(x, y), (x + 8, y)]
            } else {
                vec![(x, y), (x + 24, y)]
            };
            PathElement::new(segments, color.stroke_width(3))
        });
        if s.dashed {
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| TriangleMarker::new(p.clone(), 8, color.filled())),
                )
                .map_err(|e| e.to_string())?;
        } else {
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| Circle::new(p.clone(), 6, color.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Throughput (log scale) against the number of secrets for one operation and connection count.
fn throughput_panel(
    area: &Area<'_>,
    results: &Results,
    operation: Operation,
    connections: u32,
) -> Result<()> {
    let mut series = Vec::new();
    for sync in &results.config.synchronous_commit {
        for (implementation, color, name) in [
            (Implementation::Ours, OURS, "ours"),
            (Implementation::Raw, RAW, "raw"),
        ] {
            let points = results
                .config
                .sizes
                .iter()
                .enumerate()
                .filter_map(|(i, &size)| {
                    results
                        .find(size, sync, connections, operation, implementation)
                        .map(|s| (i, s.ops_per_sec))
                })
                .collect();
            series.push(Series {
                label: format!("{name}, synchronous_commit {sync}"),
                color,
                dashed: sync == "off",
                points,
            });
        }
    }
    if let Some(sync) = results.config.synchronous_commit.first() {
        let points = results
            .config
            .sizes
            .iter()
            .enumerate()
            .filter_map(|(i, &size)| {
                results
                    .find(
                        size,
                        sync,
                        connections,
                        Operation::RoundTrip,
                        Implementation::Floor,
                    )
                    .map(|s| (i, s.ops_per_sec))
            })
            .collect();
        series.push(Series {
            label: format!("select 1 (floor), synchronous_commit {sync}"),
            color: FLOOR,
            dashed: sync == "off",
            points,
        });
    }
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let low = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(0.1);
    let high = values.iter().copied().fold(0.0, f64::max).max(low * 2.0);
    // Room below the lowest line for the legend.
    let decades = (high / low).log10();
    let bottom = low / 10f64.powf(0.5 * decades + 0.2);
    let what = match operation {
        Operation::Store => "store vs vault.create_secret",
        Operation::Retrieve => "retrieve vs vault.decrypted_secrets lookup",
        Operation::RoundTrip => "select 1",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{what}, {connections} connection(s)"),
            ("sans-serif", 22).into_font().style(FontStyle::Bold),
        )
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x_axis(results), (bottom..high * 1.5).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("secrets of each kind")
        .y_desc("operations per second (log scale)")
        .x_label_formatter(&|x| size_label(results, x))
        .y_labels(6)
        .y_label_formatter(&|y| {
            if *y >= 1.0 {
                int(y.round() as u64)
            } else {
                format!("{y:.1}")
            }
        })
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.15))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| e.to_string())?;
    // plotters labels only the powers of ten on a log axis: add 2x and 5x lines, labelled
    // inside the plot.
    let (top, mut decade) = (high * 1.5, 10f64.powf(bottom.log10().floor()));
    while decade <= top {
        for value in [2.0 * decade, 5.0 * decade] {
            if value > bottom && value < top {
                chart
                    .draw_series(LineSeries::new(
                        vec![(SegmentValue::Exact(0), value), (SegmentValue::Last, value)],
                        BLACK.mix(0.07),
                    ))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        int(value.round() as u64),
                        (SegmentValue::Exact(0), value),
                        ("sans-serif", 13).into_font().color(&BLACK.mix(0.45)),
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
        decade *= 10.0;
    }
    draw_series(&mut chart, &series, SeriesLabelPosition::LowerLeft)?;
    Ok(())
}

/// Ours/raw throughput against the number of secrets, with the target as a line.
fn ratio_panel(
    area: &Area<'_>,
    results: &Results,
    comparisons: &[Comparison],
    operation: Operation,
    target: f64,
) -> Result<()> {
    let mut series = Vec::new();
    for sync in &results.config.synchronous_commit {
        for (k, &connections) in results.config.connections.iter().enumerate() {
            let points = comparisons
                .iter()
                .filter(|c| {
                    c.operation == operation
                        && &c.synchronous_commit == sync
                        && c.connections == connections
                })
                .filter_map(|c| {
                    let i = results.config.sizes.iter().position(|&s| s == c.size)?;
                    Some((i, c.ops_ratio))
                })
                .collect();
            series.push(Series {
                label: format!("{connections} conn., synchronous_commit {sync}"),
                color: RATIO_COLORS[k % RATIO_COLORS.len()],
                dashed: sync == "off",
                points,
            });
        }
    }
    // Room above the target line for the legend.
    let high = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(target, f64::max)
        * 1.65;
    let what = match operation {
        Operation::Store => "store: ours / raw create_secret",
        _ => "retrieve: ours / raw lookup",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{what}, throughput ratio (target {target:.1}x)"),
            ("sans-serif", 22).into_font().style(FontStyle::Bold),
        )
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x_axis(results), 0.0..high)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("secrets of each kind")
        .y_desc("ours ops/s ÷ raw ops/s")
        .x_label_formatter(&|x| size_label(results, x))
        .y_labels(8)
        .y_label_formatter(&|y| format!("{y:.1}x"))
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.15))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(DashedLineSeries::new(
            vec![
                (SegmentValue::Exact(0), target),
                (SegmentValue::Last, target),
            ],
            14,
            8,
            BLACK.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label(format!("target {target:.1}x"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLACK.stroke_width(2)));
    draw_series(&mut chart, &series, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

pub fn draw(results: &Results, comparisons: &[Comparison], path: &Path) -> Result<()> {
    register_fonts()?;
    let columns = results.config.connections.len().max(1);
    let (width, height) = (800 * columns.max(2) as u32, 1650);
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (header, body) = root.split_vertically(90);
    let vault = if results.server.vault_kind == "standin" {
        "Vault STAND-IN (SQL/pgcrypto crypto, slower than real Vault)"
    } else {
        "real supabase_vault"
    };
    header
        .draw_text(
            "credential_vault vs raw Supabase Vault, through the Rust client",
            &("sans-serif", 28)
                .into_font()
                .style(FontStyle::Bold)
                .color(&BLACK),
            (20, 12),
        )
        .map_err(|e| e.to_string())?;
    header
        .draw_text(
            &format!(
                "{} · {} · {} CPUs · {} · {} · fsync {}",
                results.date,
                results.machine.cpu_model,
                results.machine.cpus,
                results
                    .server
                    .version
                    .split(" on ")
                    .next()
                    .unwrap_or(&results.server.version),
                vault,
                results.config.fsync
            ),
            &("sans-serif", 17).into_font().color(&BLACK),
            (20, 52),
        )
        .map_err(|e| e.to_string())?;

    let thirds = body.split_evenly((3, 1));
    let store = thirds[0].split_evenly((1, columns));
    let retrieve = thirds[1].split_evenly((1, columns));
    let ratios = thirds[2].split_evenly((1, 2));
    for (column, &connections) in results.config.connections.iter().enumerate() {
        throughput_panel(&store[column], results, Operation::Store, connections)?;
        throughput_panel(&retrieve[column], results, Operation::Retrieve, connections)?;
    }
    ratio_panel(
        &ratios[0],
        results,
        comparisons,
        Operation::Store,
        STORE_TARGET,
    )?;
    ratio_panel(
        &ratios[1],
        results,
        comparisons,
        Operation::Retrieve,
        RETRIEVE_TARGET,
    )?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
