//! `loadgen`: Herald's load generator. `loadgen run` opens SSE subscribers and publishes to a
//! server on loopback, then prints what it measured (a summary on stderr, one `RESULT` line of
//! `key=value` pairs on stdout for `cargo xtask bench`), over HTTPS with `--tls-ca`; `loadgen
//! origin` is the GRIP origin behind Pushpin; `loadgen chart` draws the bench chart; `loadgen
//! tls-cert` makes the self-signed certificate the bench serves HTTPS with.

mod chart;
mod config;
mod counters;
mod fleet;
mod histogram;
mod http;
mod job;
mod origin;
mod payload;
mod publisher;
mod report;
mod run;
mod soak;
mod subscriber;
mod target;
mod tls;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Load generator for SSE servers on loopback")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One bounded load run against one server.
    Run(config::RunConfig),
    /// A helper process of a run too large for one process (started by `run` itself).
    #[command(hide = true)]
    Helper {
        /// The run's configuration, with this helper's share of the subscribers.
        #[arg(long)]
        config: String,
        /// The number of this helper's first subscriber (it picks the source addresses).
        #[arg(long)]
        first_index: usize,
    },
    /// Serves as the GRIP origin behind Pushpin: holds `GET /events?topic=T` as a stream on
    /// channel T (started and stopped by `cargo xtask bench`).
    Origin {
        /// The loopback address to listen on.
        #[arg(long)]
        bind: std::net::SocketAddrV4,
    },
    /// One check of `cargo xtask soak` (the fault suite) against a running Herald.
    #[command(subcommand)]
    Soak(soak::Check),
    /// Writes a fresh self-signed certificate for 127.0.0.1 and localhost (`cert.pem`, and its
    /// key `key.pem`) into a directory, for a server under test to serve HTTPS with and a run
    /// to trust (`run --tls-ca DIR/cert.pem`).
    TlsCert {
        /// The directory to write into (made if missing).
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Draws bench/results' SVG chart from the results table `cargo xtask bench` wrote.
    Chart {
        /// The tab-separated results (scenario, server, metric, value).
        #[arg(long)]
        input: std::path::PathBuf,
        /// The SVG to write.
        #[arg(long)]
        output: std::path::PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(config) => {
            let report = run::run(config)?;
            eprintln!(
                "connected {}/{} (p50 {:.2} ms, p99 {:.2} ms, {} retried) | published {} at {:.0}/s | \
                 {} deliveries at {:.0}/s, latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms | \
                 lost {} dup {} dropped {} | loadgen cpu {:.2}s of {:.2}s{}",
                report.connected,
                report.subscribers,
                report.connect_p50_ms,
                report.connect_p99_ms,
                report.connect_retries,
                report.published,
                report.publish_rate,
                report.deliveries,
                report.deliveries_per_s,
                report.latency_p50_ms,
                report.latency_p99_ms,
                report.latency_max_ms,
                report.lost,
                report.duplicated,
                report.dropped,
                report.loadgen_cpu_s,
                report.wall_s,
                if report.first_error.is_empty() {
                    String::new()
                } else {
                    format!(" | first error: {}", report.first_error)
                }
            );
            println!("{}", report.to_line()?);
            Ok(())
        }
        Command::Helper {
            config,
            first_index,
        } => {
            let config = serde_json::from_str(&config).context("a helper's --config is JSON")?;
            fleet::helper(config, first_index)
        }
        Command::Origin { bind } => origin::serve(bind),
        Command::Soak(check) => soak::run(check),
        Command::TlsCert { dir } => tls::write_self_signed(&dir),
        Command::Chart { input, output } => {
            let table = std::fs::read_to_string(&input)
                .with_context(|| format!("cannot read {}", input.display()))?;
            chart::draw(&table, &output)
        }
    }
}
