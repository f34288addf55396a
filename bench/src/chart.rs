//! latest.png: ours' throughput ratios per setting, against their targets.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::{Key, Result, Sample};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub fn draw(samples: &BTreeMap<Key, Sample>, path: &Path) -> Result<()> {
    let font = std::fs::read(FONT)
        .map_err(|e| format!("{FONT}: {e} (bench/run installs fonts-dejavu-core)"))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into()))
        .map_err(|_| format!("{FONT} is not a usable font"))?;
    let mut settings: Vec<(u32, u32, String)> =
        samples.keys().map(|k| (k.0, k.1, k.2.clone())).collect();
    settings.dedup();
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
    let ratio =
        |(size, clients, sync): &(u32, u32, String), op: &'static str, base: &'static str| {
            let get =
                |implementation| samples.get(&(*size, *clients, sync.clone(), op, implementation));
            Some(get("ours")?.throughput() / get(base)?.throughput())
        };
    let top = series
        .iter()
        .flat_map(|s| {
            settings
                .iter()
                .filter_map(|x| ratio(x, s.1, s.2))
                .chain([s.3])
        })
        .fold(0.0f64, f64::max)
        * 1.15;
    let root = BitMapBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("credential_vault throughput ratios", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(45)
        .build_cartesian_2d(-0.5f64..settings.len() as f64 - 0.5, 0.0..top)?;
    let label = |x: &f64| {
        let i = x.round() as usize;
        match settings.get(i).filter(|_| (x - i as f64).abs() < 0.01) {
            Some((size, clients, sync)) => format!("{size}, {clients} cl, sync {sync}"),
            None => String::new(),
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(settings.len().max(1) * 2 + 1)
        .x_label_formatter(&label)
        .y_desc("ours / baseline")
        .label_style(("sans-serif", 13))
        .draw()?;
    for (name, op, base, goal, color) in series {
        let points: Vec<(f64, f64)> = (0..settings.len())
            .filter_map(|i| Some((i as f64, ratio(&settings[i], op, base)?)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        let line = [(-0.5, goal), (settings.len() as f64 - 0.5, goal)];
        chart.draw_series(DashedLineSeries::new(
            line,
            6,
            4,
            color.mix(0.5).stroke_width(1),
        ))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    root.present()?;
    Ok(())
}
