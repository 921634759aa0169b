//! The bench chart: one panel per headline metric, two bars per server (pinned, unpinned),
//! drawn as SVG with plotters from the medians `cargo xtask bench` wrote (`mode<TAB>scenario
//! <TAB>server<TAB>metric<TAB>value` lines).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;

/// Panels: (scenario, metric, title, divisor to the shown unit). Each answers one claim.
const PANELS: [(&str, &str, &str, f64); 8] = [
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
        "burst",
        "deliveries_per_s",
        "burst: M deliveries/s (higher is better)",
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
    (
        "burst",
        "latency_p99_ms",
        "burst: p99 latency, ms (lower is better)",
        1.0,
    ),
];
/// Bar groups and colours.
const SERVERS: [(&str, RGBColor); 4] = [
    ("herald", RGBColor(0xd9, 0x5f, 0x02)),
    ("axum", RGBColor(0x1b, 0x9e, 0x77)),
    ("nchan", RGBColor(0x75, 0x70, 0xb3)),
    ("pushpin", RGBColor(0xe7, 0x29, 0x8a)),
];
/// The two bars of a group: mode, offset from the group's centre, and how much of the server's
/// colour the bar keeps (the rest is white).
const MODES: [(&str, f64, f64); 2] = [("pinned", -0.2, 1.0), ("unpinned", 0.2, 0.45)];
/// A bar's width, in groups.
const BAR: f64 = 0.36;

/// Draws the chart of `table` into `output`.
pub(crate) fn draw(table: &str, output: &Path) -> anyhow::Result<()> {
    let mut values: BTreeMap<(&str, &str, &str, &str), f64> = BTreeMap::new();
    for line in table.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [mode, scenario, server, metric, value] = fields[..]
            && let Ok(value) = value.parse::<f64>()
        {
            values.insert((mode, scenario, server, metric), value);
        }
    }
    let root = SVGBackend::new(output, (1200, 1450)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let root = root
        .titled(
            "left, solid: pinned (one core per server)   right, light: unpinned (workers = cores)",
            ("sans-serif", 20),
        )
        .map_err(plot_error)?;
    let panels = root.split_evenly((4, 2));
    for (area, (scenario, metric, title, divisor)) in panels.iter().zip(PANELS) {
        let mut bars = Vec::new();
        for (at, (server, colour)) in SERVERS.iter().enumerate() {
            for (mode, offset, strength) in MODES {
                if let Some(value) = values.get(&(mode, scenario, *server, metric)) {
                    bars.push((at as f64 + offset, value / divisor, tint(*colour, strength)));
                }
            }
        }
        let top = bars
            .iter()
            .map(|bar| bar.1)
            .fold(0.0_f64, f64::max)
            .max(1e-9)
            * 1.2;
        let groups = SERVERS.len() as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5_f64..groups - 0.5, 0.0..top)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(SERVERS.len())
            .x_label_formatter(&|x| {
                let at = x.round();
                if (x - at).abs() < 0.01 && (0.0..groups).contains(&at) {
                    SERVERS[at as usize].0.to_owned()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(bars.iter().map(|&(x, value, colour)| {
                Rectangle::new(
                    [(x - BAR / 2.0, 0.0), (x + BAR / 2.0, value)],
                    colour.filled(),
                )
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(bars.iter().map(|&(x, value, _)| {
                Text::new(
                    format_value(value),
                    (x - BAR / 2.0, value + top * 0.03),
                    ("sans-serif", 12),
                )
            }))
            .map_err(plot_error)?;
    }
    root.present()
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(())
}

/// `colour` mixed with white, keeping `strength` of it.
fn tint(colour: RGBColor, strength: f64) -> RGBColor {
    let mix = |channel: u8| (255.0 - (255.0 - f64::from(channel)) * strength).round() as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
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
    use super::*;

    #[test]
    fn draws_an_svg_with_every_server_and_both_modes() {
        let table = "# mode\tscenario\tserver\tmetric\tmedian\n\
                     pinned\tfanout-1k\therald\tdeliveries_per_s\t1200000\n\
                     unpinned\tfanout-1k\therald\tdeliveries_per_s\t1700000\n\
                     pinned\tfanout-1k\taxum\tdeliveries_per_s\t900000\n\
                     unpinned\tburst\tpushpin\tlatency_p99_ms\t42.5\n\
                     pinned\tidle\tnchan\trss_kb_per_conn\t10.5\n";
        let dir = std::env::temp_dir().join(format!("loadgen-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let output = dir.join("chart.svg");
        draw(table, &output).expect("chart drawn");
        let svg = std::fs::read_to_string(&output).expect("chart written");
        std::fs::remove_dir_all(&dir).expect("temp dir removed");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for server in ["herald", "axum", "nchan", "pushpin"] {
            assert!(svg.contains(server), "{server} missing");
        }
        // Both of Herald's fanout-1k bars, labelled with their values in millions (plotters
        // writes a text's content on a line of its own).
        let label = |text: &str| svg.lines().any(|line| line.trim() == text);
        assert!(label("1.20"), "the pinned bar's label is missing");
        assert!(label("1.70"), "the unpinned bar's label is missing");
        assert!(label("42.50"), "the burst panel's label is missing");
    }

    #[test]
    fn the_unpinned_tint_is_lighter_and_full_strength_is_the_colour() {
        let colour = RGBColor(0xd9, 0x5f, 0x02);
        assert_eq!(tint(colour, 1.0), colour);
        let light = tint(colour, 0.45);
        assert!(light.0 > colour.0 && light.1 > colour.1 && light.2 > colour.2);
        assert_eq!(tint(colour, 0.0), RGBColor(255, 255, 255));
    }
}
