//! The bench's results: medians over the rounds, the TSV tables, and the Markdown report with
//! Herald/peer ratios.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::Options;
use super::scenarios::Scenario;
use super::servers::Server;

/// Metrics shown per scenario in the Markdown table, with whether higher is better.
pub(super) const SHOWN: [(&str, &[&str]); 4] = [
    (
        "idle",
        &[
            "rss_kb_per_conn",
            "peak_rss_mb",
            "connect_p50_ms",
            "connect_p99_ms",
            "connect_all_s",
            "cpu_s",
            "connected",
            "dropped",
        ],
    ),
    (
        "fanout-1k",
        &[
            "deliveries_per_s",
            "cpu_us_per_delivery",
            "latency_p50_ms",
            "latency_p99_ms",
            "latency_max_ms",
            "lost",
            "duplicated",
            "publish_rate",
            "peak_rss_mb",
            "cpu_s",
            "loadgen_cpu_s",
        ],
    ),
    (
        "fanout-10k",
        &[
            "deliveries_per_s",
            "publish_rate",
            "cpu_us_per_delivery",
            "latency_p50_ms",
            "latency_p99_ms",
            "latency_max_ms",
            "lost",
            "duplicated",
            "peak_rss_mb",
            "cpu_s",
            "loadgen_cpu_s",
        ],
    ),
    (
        "steady",
        &[
            "latency_p50_ms",
            "latency_p99_ms",
            "latency_max_ms",
            "lost",
            "duplicated",
            "cpu_us_per_delivery",
            "peak_rss_mb",
            "cpu_s",
        ],
    ),
];

pub(super) fn higher_is_better(metric: &str) -> bool {
    matches!(
        metric,
        "deliveries_per_s" | "publish_rate" | "connected" | "published"
    )
}

#[derive(Debug)]
pub(super) struct Run {
    pub(super) round: usize,
    pub(super) scenario: &'static str,
    pub(super) server: Server,
    pub(super) metrics: BTreeMap<String, f64>,
}

pub(super) type Medians = BTreeMap<(&'static str, &'static str), BTreeMap<String, f64>>;

/// The median of each metric over the rounds, per scenario and server.
pub(super) fn medians(runs: &[Run]) -> Medians {
    let mut gathered: BTreeMap<(&'static str, &'static str), BTreeMap<String, Vec<f64>>> =
        BTreeMap::new();
    for run in runs {
        let entry = gathered
            .entry((run.scenario, run.server.name()))
            .or_default();
        for (metric, value) in &run.metrics {
            entry.entry(metric.clone()).or_default().push(*value);
        }
    }
    gathered
        .into_iter()
        .map(|(key, metrics)| {
            let metrics = metrics
                .into_iter()
                .map(|(metric, mut values)| {
                    values.sort_by(f64::total_cmp);
                    let middle = values.len() / 2;
                    let median = if values.len() % 2 == 1 {
                        values[middle]
                    } else {
                        f64::midpoint(values[middle - 1], values[middle])
                    };
                    (metric, median)
                })
                .collect();
            (key, metrics)
        })
        .collect()
}

pub(super) fn write_results(out: &Path, runs: &[Run], medians: &Medians) -> anyhow::Result<()> {
    let mut table = String::from("# scenario\tserver\tmetric\tmedian\n");
    for ((scenario, server), metrics) in medians {
        for (metric, value) in metrics {
            let _ = writeln!(table, "{scenario}\t{server}\t{metric}\t{value}");
        }
    }
    std::fs::write(out.join("bench.tsv"), table)?;
    let mut all = String::from("# round\tscenario\tserver\tmetric\tvalue\n");
    for run in runs {
        for (metric, value) in &run.metrics {
            let _ = writeln!(
                all,
                "{}\t{}\t{}\t{metric}\t{value}",
                run.round + 1,
                run.scenario,
                run.server.name()
            );
        }
    }
    std::fs::write(out.join("runs.tsv"), all)?;
    Ok(())
}

pub(super) fn markdown(
    medians: &Medians,
    scenarios: &[Scenario],
    command: &str,
    machine: &str,
    rounds: usize,
    options: Options,
) -> String {
    let mut md = String::from("# Herald vs axum vs Nchan\n\n");
    let _ = writeln!(
        md,
        "Made by `{command}` ({rounds} round(s), medians; every run is in `runs.tsv`, the \
         medians in `bench.tsv`, the chart in `bench.svg`). Ratios are Herald / peer; the arrow \
         says which way is better.\n"
    );
    let _ = writeln!(md, "![chart](bench.svg)\n");
    for (name, metrics) in SHOWN {
        let Some(scenario) = scenarios.iter().find(|scenario| scenario.name == name) else {
            continue;
        };
        let _ = writeln!(md, "## {name}\n");
        let rate = if scenario.rate > 0.0 {
            format!("{} messages/s", scenario.rate)
        } else if scenario.messages > 0 {
            format!("as fast as {} requests in flight allow", scenario.in_flight)
        } else {
            "no messages".to_owned()
        };
        let hold = if scenario.hold > 0.0 {
            format!(", held {} s", scenario.hold)
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "{} subscribers, {} messages of 64 B, {rate}{hold}.\n",
            scenario.subscribers, scenario.messages
        );
        md.push_str("| metric | | herald | axum | nchan | herald/axum | herald/nchan |\n");
        md.push_str("|---|---|---:|---:|---:|---:|---:|\n");
        for metric in metrics {
            let value =
                |server: &'static str| medians.get(&(name, server)).and_then(|m| m.get(*metric));
            let (herald, axum, nchan) = (value("herald"), value("axum"), value("nchan"));
            let arrow = if higher_is_better(metric) {
                "↑"
            } else {
                "↓"
            };
            let _ = writeln!(
                md,
                "| {metric} | {arrow} | {} | {} | {} | {} | {} |",
                cell(herald),
                cell(axum),
                cell(nchan),
                ratio(herald, axum),
                ratio(herald, nchan)
            );
        }
        md.push('\n');
    }
    let pinning = if options.pin {
        "Each server pinned to core 0 with one worker (Herald `--workers 1`, axum \
         `TOKIO_WORKER_THREADS=1`, nginx `worker_processes 1`); loadgen pinned to core 1."
    } else {
        "Not pinned: servers use workers = cores, and share them with loadgen."
    };
    let _ = writeln!(
        md,
        "## How\n\n- {pinning}\n- Each scenario starts a fresh server; the servers take turns \
         in an order that rotates every scenario and round.\n- Server RSS is `VmRSS` from \
         `/proc` (nginx: master + workers summed): `peak_rss_mb` sampled every 50 ms; \
         `rss_kb_per_conn` = (RSS at the end of the idle hold − RSS before any connection) / \
         connections. `cpu_s` is user + system from `/proc/<pid>/stat` over the publish phase \
         (from the first publish to the last delivery; the whole run for idle), \
         `cpu_total_s` over the whole run; `cpu_us_per_delivery` = `cpu_s` / deliveries.\n\
         - Latency is publish (loadgen writes the request) → receive (loadgen parsed the \
         event), wall clock, one machine. `lost` = subscribers × published − distinct events \
         received; subscribers first wait until a warm-up event reached all of them.\n\
         - `loadgen_cpu_s` close to the run's length means loadgen was the bottleneck.\n\n\
         ## Machine\n\n{machine}"
    );
    md
}

pub(super) fn cell(value: Option<&f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(value) if value.abs() >= 1000.0 => format!("{value:.0}"),
        Some(value) if value.abs() >= 10.0 => format!("{value:.1}"),
        Some(value) => format!("{value:.3}"),
    }
}

pub(super) fn ratio(herald: Option<&f64>, peer: Option<&f64>) -> String {
    match (herald, peer) {
        (Some(herald), Some(peer)) if *peer != 0.0 => format!("{:.2}", herald / peer),
        (Some(herald), Some(_)) if *herald == 0.0 => "=".to_owned(),
        _ => "–".to_owned(),
    }
}
