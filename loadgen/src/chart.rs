//! The bench chart: one panel per headline metric, one bar per server, drawn as SVG with
//! plotters from the medians `cargo xtask bench` wrote (`scenario<TAB>server<TAB>metric<TAB>
//! value` lines).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;

/// Panels: (scenario, metric, title, divisor to the shown unit). Each answers one claim.
const PANELS: [(&str, &str, &str, f64); 6] = [
    (
        "fanout-1k",
        "deliveries_per_s",
        "fanout-1k: M deliveries/s (higher is better)",
        1e6,
    ),
    (
        "fanout-10k",
        "deliveries_per_s",
        "fanout-10k: M deliveries/s (higher is better)",
        1e6,
    ),
    (
        "idle",
        "rss_kb_per_conn",
        "idle: KB of server RSS per connection (lower is better)",
        1.0,
    ),
    (
        "fanout-1k",
        "cpu_us_per_delivery",
        "fanout-1k: server CPU µs per delivery (lower)",
        1.0,
    ),
    (
        "steady",
        "latency_p99_ms",
        "steady: p99 latency, ms (lower is better)",
        1.0,
    ),
    (
        "fanout-10k",
        "latency_p99_ms",
        "fanout-10k: p99 latency, ms (lower is better)",
        1.0,
    ),
];
/// Bar order and colours.
const SERVERS: [(&str, RGBColor); 3] = [
    ("herald", RGBColor(0xd9, 0x5f, 0x02)),
    ("axum", RGBColor(0x1b, 0x9e, 0x77)),
    ("nchan", RGBColor(0x75, 0x70, 0xb3)),
];

/// Draws the chart of `table` into `output`.
pub(crate) fn draw(table: &str, output: &Path) -> anyhow::Result<()> {
    let mut values: BTreeMap<(&str, &str, &str), f64> = BTreeMap::new();
    for line in table.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [scenario, server, metric, value] = fields[..]
            && let Ok(value) = value.parse::<f64>()
        {
            values.insert((scenario, server, metric), value);
        }
    }
    let root = SVGBackend::new(output, (1200, 1050)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let panels = root.split_evenly((3, 2));
    for (area, (scenario, metric, title, divisor)) in panels.iter().zip(PANELS) {
        let bars: Vec<(usize, f64, RGBColor)> = SERVERS
            .iter()
            .enumerate()
            .filter_map(|(at, (server, colour))| {
                values
                    .get(&(scenario, *server, metric))
                    .map(|value| (at, value / divisor, *colour))
            })
            .collect();
        let top = bars
            .iter()
            .map(|bar| bar.1)
            .fold(0.0_f64, f64::max)
            .max(1e-9)
            * 1.2;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5_f64..2.5_f64, 0.0..top)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(3)
            .x_label_formatter(&|x| {
                let at = x.round();
                if (x - at).abs() < 0.01 && (0.0..3.0).contains(&at) {
                    SERVERS[at as usize].0.to_owned()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(bars.iter().map(|&(at, value, colour)| {
                let x = at as f64;
                Rectangle::new([(x - 0.3, 0.0), (x + 0.3, value)], colour.filled())
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(bars.iter().map(|&(at, value, _)| {
                Text::new(
                    format_value(value),
                    (at as f64 - 0.15, value + top * 0.03),
                    ("sans-serif", 15),
                )
            }))
            .map_err(plot_error)?;
    }
    root.present()
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(())
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn plot_error(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {err}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_an_svg_with_every_server() {
        let table = "fanout-1k\therald\tdeliveries_per_s\t1200000\n\
                     fanout-1k\taxum\tdeliveries_per_s\t900000\n\
                     idle\tnchan\trss_kb_per_conn\t10.5\n";
        let dir = std::env::temp_dir().join(format!("loadgen-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let output = dir.join("chart.svg");
        super::draw(table, &output).expect("chart drawn");
        let svg = std::fs::read_to_string(&output).expect("chart written");
        std::fs::remove_dir_all(&dir).expect("temp dir removed");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for server in ["herald", "axum", "nchan"] {
            assert!(svg.contains(server), "{server} missing");
        }
    }
}
