//! `cargo xtask bench [--quick] [--no-pin]`: Herald against Nchan (nginx, C) and the idiomatic
//! axum broadcast server (`bench/baseline-axum/`), on the same scenarios, in one run.
//!
//! Each scenario runs on a freshly started server, the three servers taking turns in an order
//! that rotates every scenario and round, so that noise from the rest of the machine hits all
//! alike; the full run repeats everything three times and reports medians. `loadgen` drives the
//! load and measures what clients see; this module measures the server from `/proc` (peak RSS,
//! CPU seconds; nginx: master + workers) and writes `bench.md`, `bench.tsv`, `runs.tsv` and
//! `bench.svg` into `bench/results/` (full) or `target/bench/quick/` (`--quick`, a tenth of
//! the sizes, one round, for development).
//!
//! By default each server is pinned to core 0 with one worker (Herald `--workers 1`, axum
//! `TOKIO_WORKER_THREADS=1`, nginx `worker_processes 1`) and loadgen to core 1: on a 2-core
//! machine that keeps the load generator from stealing the server's CPU and makes the servers
//! compare core for core. `--no-pin` lets every process use every core (workers = cores).

mod driver;
mod install;
mod machine;
mod procfs;
mod report;
mod scenarios;
mod servers;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::process::{Ctx, human};
use driver::run_loadgen;
use install::install_nchan;
use machine::machine_facts;
use procfs::{TICKS_PER_SECOND, cpu_ticks, rss_kb};
use report::{Run, markdown, medians, write_results};
use scenarios::{Scenario, scenarios};
use servers::{Bins, SERVERS, Server, free_port, start, wait_listening};

/// Sampling period of server RSS while a scenario runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Options of one bench run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) pin: bool,
    /// Runs only this scenario (development; results go to `target/bench/partial/`).
    only_scenario: Option<&'static str>,
    /// Runs only this server (development; results go to `target/bench/partial/`).
    only_server: Option<Server>,
    /// Profiles each server while it delivers (`perf record`; summaries into `profiles/`
    /// beside the results, perf's data into `target/bench/work/`).
    perf: bool,
}

impl Options {
    fn partial(self) -> bool {
        self.only_scenario.is_some() || self.only_server.is_some()
    }
}

/// Parses `bench`'s arguments.
pub(crate) fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        quick: false,
        pin: true,
        only_scenario: None,
        only_server: None,
        perf: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--no-pin" => options.pin = false,
            "--perf" => options.perf = true,
            "--scenario" => {
                let name = args.next().context("--scenario needs a name")?;
                let known = scenarios(false);
                let found = known.iter().find(|scenario| scenario.name == name.as_str());
                options.only_scenario =
                    Some(found.map(|scenario| scenario.name).with_context(|| {
                        let names: Vec<_> = known.iter().map(|scenario| scenario.name).collect();
                        format!("no scenario {name:?}; there are {}", names.join(", "))
                    })?);
            }
            "--server" => {
                let name = args.next().context("--server needs a name")?;
                options.only_server = Some(
                    SERVERS
                        .into_iter()
                        .find(|server| server.name() == name.as_str())
                        .with_context(|| format!("no server {name:?}: herald, axum or nchan"))?,
                );
            }
            other => bail!(
                "bench takes --quick, --no-pin, --perf, --scenario NAME and --server NAME, \
                 not {other:?}"
            ),
        }
    }
    Ok(options)
}

/// Runs the whole benchmark and writes its results.
pub(crate) fn bench(ctx: &Ctx, options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    install_nchan(ctx)?;
    if options.perf {
        crate::profile::install(ctx)?;
    }
    ctx.run(ctx.cargo().args([
        "build",
        "--profile",
        "perf",
        "-p",
        "server",
        "-p",
        "loadgen",
    ]))?;
    let axum_target = ctx.root.join("target").join("baseline-axum");
    ctx.run(
        ctx.cargo()
            .arg("build")
            .arg("--release")
            .arg("--manifest-path")
            .arg(ctx.root.join("bench/baseline-axum/Cargo.toml"))
            .arg("--target-dir")
            .arg(&axum_target),
    )?;
    let bins = Bins {
        // Another build of Herald may be measured in its place (say, the commit before a
        // change, for a before/after profile).
        herald: std::env::var_os("HERALD_BENCH_BIN")
            .map_or_else(|| ctx.root.join("target/perf/server"), PathBuf::from),
        loadgen: ctx.root.join("target/perf/loadgen"),
        axum: axum_target.join("release/baseline-axum"),
        nchan_conf: std::fs::read_to_string(ctx.root.join("bench/nchan/nginx.conf"))
            .context("cannot read bench/nchan/nginx.conf")?,
    };
    let out = if options.partial() {
        ctx.root.join("target/bench/partial")
    } else if options.quick {
        ctx.root.join("target/bench/quick")
    } else {
        ctx.root.join("bench/results")
    };
    let work = ctx.root.join("target/bench/work");
    std::fs::create_dir_all(&out)?;
    std::fs::create_dir_all(&work)?;
    if options.perf {
        std::fs::create_dir_all(out.join("profiles"))?;
    }
    let machine = machine_facts(ctx, options);

    let rounds = if options.quick || options.partial() {
        1
    } else {
        3
    };
    let scenarios: Vec<Scenario> = scenarios(options.quick)
        .into_iter()
        .filter(|scenario| {
            options
                .only_scenario
                .is_none_or(|name| name == scenario.name)
        })
        .collect();
    let mut runs: Vec<Run> = Vec::new();
    for round in 0..rounds {
        for (at, scenario) in scenarios.iter().enumerate() {
            for turn in 0..SERVERS.len() {
                let server = SERVERS[(round + at + turn) % SERVERS.len()];
                if options.only_server.is_some_and(|only| only != server) {
                    continue;
                }
                println!(
                    "==> round {}/{rounds}, {} on {}",
                    round + 1,
                    scenario.name,
                    server.name()
                );
                let metrics = run_one(&bins, &work, &out, server, scenario, options, round)
                    .with_context(|| format!("{} on {}", scenario.name, server.name()))?;
                runs.push(Run {
                    round,
                    scenario: scenario.name,
                    server,
                    metrics,
                });
            }
        }
    }

    let medians = medians(&runs);
    let command = if options.quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    let mut command = command.to_owned();
    if let Some(bin) = std::env::var_os("HERALD_BENCH_BIN") {
        command = format!("HERALD_BENCH_BIN={} {command}", bin.to_string_lossy());
    }
    if options.perf {
        command.push_str(" --perf");
    }
    if !options.pin {
        command.push_str(" --no-pin");
    }
    if let Some(name) = options.only_scenario {
        let _ = write!(command, " --scenario {name}");
    }
    if let Some(server) = options.only_server {
        let _ = write!(command, " --server {}", server.name());
    }
    write_results(&out, &runs, &medians)?;
    let markdown = markdown(&medians, &scenarios, &command, &machine, rounds, options);
    std::fs::write(out.join("bench.md"), markdown)?;
    ctx.run(
        Command::new(&bins.loadgen)
            .arg("chart")
            .arg("--input")
            .arg(out.join("bench.tsv"))
            .arg("--output")
            .arg(out.join("bench.svg")),
    )?;
    println!(
        "==> bench done in {}: {}",
        human(started.elapsed()),
        out.join("bench.md").display()
    );
    Ok(())
}

fn run_one(
    bins: &Bins,
    work: &Path,
    out: &Path,
    server: Server,
    scenario: &Scenario,
    options: Options,
    round: usize,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log = work.join(format!("{}-{}-{round}.log", server.name(), scenario.name));
    let running = start(bins, work, server, port, &log, options)?;
    wait_listening(addr, &running, &log)?;
    // Let the server settle (nginx forks its workers) before the baseline reading.
    std::thread::sleep(Duration::from_millis(300));
    let pids = running.pids();
    let rss_before = rss_kb(&pids);
    let cpu_before = cpu_ticks(&pids);

    let peak = Arc::new(AtomicU64::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pids) = (Arc::clone(&peak), Arc::clone(&done), pids.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(&pids), Ordering::Relaxed);
                std::thread::sleep(SAMPLE_EVERY);
            }
        })
    };
    // perf's data stays in the work directory; only its summary joins the results.
    let profile = options.perf.then(|| {
        work.join(format!(
            "{}-{}-{round}.perf.data",
            scenario.name,
            server.name()
        ))
    });
    let result = run_loadgen(
        bins,
        server,
        scenario,
        addr,
        options,
        &pids,
        profile.as_deref(),
    );
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let cpu_total = (cpu_ticks(&pids) - cpu_before) / TICKS_PER_SECOND;
    drop(running);
    let (mut metrics, phases) = result?;

    let peak = peak.load(Ordering::Relaxed);
    let connected = metrics.get("connected").copied().unwrap_or(0.0);
    let deliveries = metrics.get("deliveries").copied().unwrap_or(0.0);
    let at = |name: &str| phases.iter().find(|phase| phase.name == name);
    // CPU of the publish phase when there was one: the deliveries' cost, not the connects'.
    let cpu = match (at("publish"), at("drained")) {
        (Some(start), Some(end)) => (end.cpu_ticks - start.cpu_ticks) / TICKS_PER_SECOND,
        _ => cpu_total,
    };
    metrics.insert("cpu_s".to_owned(), cpu);
    metrics.insert("cpu_total_s".to_owned(), cpu_total);
    metrics.insert("peak_rss_mb".to_owned(), peak as f64 / 1024.0);
    metrics.insert("base_rss_mb".to_owned(), rss_before as f64 / 1024.0);
    if connected > 0.0 {
        // Idle: RSS with every connection open and settled, at the end of the hold.
        let held = at("held").map_or(peak, |phase| phase.rss_kb);
        metrics.insert(
            "rss_kb_per_conn".to_owned(),
            held.saturating_sub(rss_before) as f64 / connected,
        );
    }
    if deliveries > 0.0 {
        metrics.insert("cpu_us_per_delivery".to_owned(), cpu * 1e6 / deliveries);
        if let Some(data) = profile.filter(|data| data.is_file()) {
            let title = format!("{} on {}", scenario.name, server.name());
            let summary = out.join("profiles").join(format!(
                "{}-{}-{round}.md",
                scenario.name,
                server.name()
            ));
            crate::profile::summarize(&data, deliveries, &title, &summary)?;
        }
    }
    Ok(metrics)
}
