//! latest.png: ours' throughput ratios per setting, against their targets (dashed).

use std::path::Path;

use plotters::prelude::*;

use crate::{Result, Samples};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub fn draw(samples: &Samples, path: &Path) -> Result<()> {
    let font = std::fs::read(FONT).map_err(|e| format!("{FONT}: {e} (bench/run installs it)"))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into()))
        .map_err(|_| format!("{FONT} is not a usable font"))?;
    let mut settings: Vec<_> = samples.keys().map(|k| (k.0, k.1, k.2.clone())).collect();
    settings.dedup();
    let ratio = |i: usize, op: &'static str, base: &'static str| {
        let (size, clients, sync) = settings[i].clone();
        let get = |implementation| samples.get(&(size, clients, sync.clone(), op, implementation));
        Some((
            i as f64,
            get("ours")?.throughput() / get(base)?.throughput(),
        ))
    };
    let series = [
        (
            "retrieve: ours / raw lookup (target 0.9)",
            "retrieve",
            "raw",
            0.9,
            RED,
        ),
        (
            "retrieve: ours / plpgsql wrapper (target 1.5)",
            "retrieve",
            "wrapper",
            1.5,
            BLUE,
        ),
        (
            "store: ours / raw create_secret (target 1.0)",
            "store",
            "raw",
            1.0,
            GREEN,
        ),
    ];
    let width = settings.len() as f64 - 0.5;
    let points = |op, base| (0..settings.len()).filter_map(move |i| ratio(i, op, base));
    let top = (series.iter())
        .flat_map(|s| points(s.1, s.2).map(|p| p.1).chain([s.3]))
        .fold(0.0f64, f64::max);
    let root = BitMapBackend::new(path, (1100, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "credential_vault: ratios (secrets/clients/sync)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(45)
        .build_cartesian_2d(-0.5..width, 0.0..top * 1.15)?;
    let label = |x: &f64| match settings.get(x.round() as usize) {
        Some((size, clients, sync)) if x.fract() == 0.0 => format!("{size:e}/{clients}/{sync}"),
        _ => String::new(),
    };
    (chart.configure_mesh())
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(settings.len() * 2 + 1)
        .x_label_formatter(&label)
        .y_desc("ours / baseline")
        .label_style(("sans-serif", 13))
        .draw()?;
    for (name, op, base, goal, color) in series {
        chart
            .draw_series(LineSeries::new(points(op, base), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(points(op, base).map(|p| Circle::new(p, 3, color.filled())))?;
        let line = [(-0.5, goal), (width, goal)];
        chart.draw_series(DashedLineSeries::new(line, 6, 4, color.mix(0.5).into()))?;
    }
    (chart.configure_series_labels())
        .background_style(WHITE.mix(0.8))
        .label_font(("sans-serif", 13))
        .draw()?;
    root.present()?;
    Ok(())
}
