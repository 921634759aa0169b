//! The bench's results: medians over the rounds, the TSV tables, and the Markdown report, one
//! table per scenario and mode with the Herald/peer ratios (and, with `--tls`, the TLS cost).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::pinning::Mode;
use super::scenarios::Scenario;
use super::servers::{SERVERS, Server};
use super::tls;

/// What one run of one scenario on one server measured.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) round: usize,
    pub(super) mode: Mode,
    pub(super) scenario: &'static str,
    pub(super) server: Server,
    /// Measured over HTTPS (`--tls`).
    pub(super) tls: bool,
    pub(super) metrics: BTreeMap<String, f64>,
}

impl Run {
    /// The server as the results name it: Herald over HTTPS apart from Herald in cleartext.
    pub(super) fn label(&self) -> &'static str {
        if self.tls {
            tls::LABEL
        } else {
            self.server.name()
        }
    }
}

/// Metric → median, per (mode, scenario, server).
pub(super) type Medians = BTreeMap<(Mode, &'static str, &'static str), BTreeMap<String, f64>>;

/// How the report was made, for its header.
#[derive(Debug)]
pub(super) struct Made<'a> {
    pub(super) command: &'a str,
    pub(super) rounds: usize,
    pub(super) modes: &'a [Mode],
    pub(super) machine: &'a str,
}

pub(super) fn higher_is_better(metric: &str) -> bool {
    matches!(
        metric,
        "deliveries_per_s" | "publish_rate" | "connected" | "published"
    )
}

/// The median of each metric over the rounds, per mode, scenario and server.
pub(super) fn medians(runs: &[Run]) -> Medians {
    let mut gathered: BTreeMap<_, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for run in runs {
        let entry = gathered
            .entry((run.mode, run.scenario, run.label()))
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

/// Writes `bench.tsv` (the medians; the chart reads it) and `runs.tsv` (every run).
pub(super) fn write_results(out: &Path, runs: &[Run], medians: &Medians) -> anyhow::Result<()> {
    let mut table = String::from("# mode\tscenario\tserver\tmetric\tmedian\n");
    for ((mode, scenario, server), metrics) in medians {
        for (metric, value) in metrics {
            let _ = writeln!(
                table,
                "{}\t{scenario}\t{server}\t{metric}\t{value}",
                mode.name()
            );
        }
    }
    std::fs::write(out.join("bench.tsv"), table)?;
    let mut all = String::from("# round\tmode\tscenario\tserver\tmetric\tvalue\n");
    for run in runs {
        for (metric, value) in &run.metrics {
            let _ = writeln!(
                all,
                "{}\t{}\t{}\t{}\t{metric}\t{value}",
                run.round + 1,
                run.mode.name(),
                run.scenario,
                run.label()
            );
        }
    }
    std::fs::write(out.join("runs.tsv"), all)?;
    Ok(())
}

/// The Markdown report: per scenario, one table per mode.
pub(super) fn markdown(medians: &Medians, scenarios: &[Scenario], made: &Made<'_>) -> String {
    let mut md = String::from("# Herald vs axum vs Nchan vs Pushpin\n\n");
    let _ = writeln!(
        md,
        "Made by `{}` ({} round(s), medians; every run is in `runs.tsv`, the medians in \
         `bench.tsv`, the chart in `bench.svg`). Each scenario is measured in {}. Ratios are \
         Herald / peer; the arrow says which way is better.\n",
        made.command,
        made.rounds,
        modes_in_words(made.modes),
    );
    let _ = writeln!(md, "![chart](bench.svg)\n");
    let peers = &SERVERS[1..];
    for scenario in scenarios {
        let _ = writeln!(md, "## {}\n\n{}\n", scenario.name, scenario.describe());
        for &mode in made.modes {
            let _ = writeln!(md, "### {}\n", mode.name());
            md.push_str("| metric | |");
            for server in SERVERS {
                let _ = write!(md, " {} |", server.name());
            }
            for peer in peers {
                let _ = write!(md, " herald/{} |", peer.name());
            }
            md.push_str("\n|---|---|");
            md.push_str(&"---:|".repeat(SERVERS.len() + peers.len()));
            md.push('\n');
            for metric in scenario.shown {
                let value = |server: Server| {
                    medians
                        .get(&(mode, scenario.name, server.name()))
                        .and_then(|metrics| metrics.get(*metric))
                };
                let arrow = if higher_is_better(metric) {
                    "↑"
                } else {
                    "↓"
                };
                let _ = write!(md, "| {metric} | {arrow} |");
                for server in SERVERS {
                    let _ = write!(md, " {} |", cell(value(server)));
                }
                for peer in peers {
                    let _ = write!(md, " {} |", ratio(value(Server::Herald), value(*peer)));
                }
                md.push('\n');
            }
            md.push('\n');
        }
    }
    let tls_cost = tls::markdown(medians, made.modes);
    md.push_str(&tls_cost);
    let _ = writeln!(md, "## How\n");
    for &mode in made.modes {
        let _ = writeln!(md, "- {}: {}.", mode.name(), mode.describe());
    }
    if !tls_cost.is_empty() {
        let _ = writeln!(
            md,
            "- HTTPS (`--tls`): Herald started with `--tls-cert`/`--tls-key` (a certificate \
             `loadgen tls-cert` made for this run), loadgen with `--tls-ca` trusting only it. \
             Each connection does its own handshake: the subscribers' fall in the connect \
             phase (`connect_p50_ms` includes it), so `cpu_s` counts the records of the \
             deliveries and, of handshakes, only the publishers' few."
        );
    }
    let _ = writeln!(
        md,
        "- Each scenario starts a fresh server; the servers take turns in an order that rotates \
         every scenario, mode and round.\n- Pushpin is measured as it serves: its launcher, \
         condure, zurl, pushpin-proxy, pushpin-handler, and the GRIP origin it proxies \
         subscriptions to (`loadgen origin`, which answers each with `Grip-Hold: stream`).\n\
         - Server RSS is `VmRSS` from `/proc` (nginx: master + workers; Pushpin: all six \
         processes, summed): `peak_rss_mb` sampled every 50 ms; `rss_kb_per_conn` = (RSS at \
         the end of the idle hold − RSS before any connection) / connections. `cpu_s` is user \
         + system from `/proc/<pid>/stat` over the publish phase (from the first publish to the \
         last delivery; the whole run for idle), `cpu_total_s` over the whole run; \
         `cpu_us_per_delivery` = `cpu_s` / deliveries.\n\
         - Latency is publish (loadgen writes the request) → receive (loadgen parsed the \
         event), wall clock, one machine. Subscribers first wait until a warm-up event reached \
         all of them. `lost` = events that the streams open when publishing began did not \
         receive; `dropped` = streams the server ended before the run did (one ended before \
         publishing lost its connection, not events, and counts there only). A subscription \
         answered 5xx is asked again after 100 ms, up to 10 times (`connect_retries`; its \
         connect time includes them); `connect_failed` gave up.\n\
         - `loadgen_cpu_s` close to the run's length means loadgen was the bottleneck.\n\n\
         ## Machine\n\n{}",
        made.machine
    );
    md
}

fn modes_in_words(modes: &[Mode]) -> String {
    let names: Vec<&str> = modes.iter().map(|mode| mode.name()).collect();
    match names.as_slice() {
        [one] => format!("one mode, {one}"),
        _ => format!("{} modes: {}", names.len(), names.join(" and ")),
    }
}

pub(super) fn cell(value: Option<&f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(value) if value.abs() >= 1000.0 => format!("{value:.0}"),
        Some(value) if value.abs() >= 10.0 => format!("{value:.1}"),
        Some(value) => format!("{value:.3}"),
    }
}

/// `herald / peer`, or what stands for it when one is missing or zero.
pub(super) fn ratio(herald: Option<&f64>, peer: Option<&f64>) -> String {
    match (herald, peer) {
        (Some(herald), Some(peer)) if *peer != 0.0 => format!("{:.2}", herald / peer),
        (Some(herald), Some(_)) if *herald == 0.0 => "=".to_owned(),
        _ => "–".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_per_mode_with_a_ratio_per_peer() {
        let scenarios = super::super::scenarios::scenarios(true);
        let mut runs = Vec::new();
        for (mode, base) in [(Mode::Pinned, 100.0), (Mode::Unpinned, 300.0)] {
            for (at, server) in SERVERS.into_iter().enumerate() {
                for round in 0..3 {
                    let value = base / (at + 1) as f64 + round as f64;
                    runs.push(Run {
                        round,
                        mode,
                        scenario: "burst",
                        server,
                        tls: false,
                        metrics: BTreeMap::from([("deliveries_per_s".to_owned(), value)]),
                    });
                }
            }
        }
        let medians = medians(&runs);
        assert_eq!(
            medians[&(Mode::Unpinned, "burst", "herald")]["deliveries_per_s"],
            301.0
        );
        let made = Made {
            command: "cargo xtask bench",
            rounds: 3,
            modes: &[Mode::Pinned, Mode::Unpinned],
            machine: "- cores: 2\n",
        };
        let md = markdown(&medians, &scenarios, &made);
        let burst = &md[md.find("## burst").expect("a burst section")..];
        let pinned = &burst[burst.find("### pinned").expect("a pinned table")..];
        let unpinned = &burst[burst.find("### unpinned").expect("an unpinned table")..];
        assert!(
            pinned.contains(
                "| herald | axum | nchan | pushpin | herald/axum | herald/nchan | herald/pushpin |"
            ),
            "{pinned}"
        );
        // Medians of (100, 101, 102) / (50, 51, 52) / … per server; ratios Herald / peer.
        assert!(
            pinned.contains(
                "| deliveries_per_s | ↑ | 101.0 | 51.0 | 34.3 | 26.0 | 1.98 | 2.94 | 3.88 |"
            ),
            "{pinned}"
        );
        assert!(
            unpinned.contains(
                "| deliveries_per_s | ↑ | 301.0 | 151.0 | 101.0 | 76.0 | 1.99 | 2.98 | 3.96 |"
            ),
            "{unpinned}"
        );
        assert!(md.contains("2 modes: pinned and unpinned"));
    }
}
