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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::process::{Ctx, first_line, human, is_root};
use crate::tools::apt_get;

/// Herald's publish token for the run (loopback only, never a secret).
const TOKEN: &str = "bench-token";
const NGINX: &str = "/usr/sbin/nginx";
const NCHAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";
/// How long a server may take to accept connections after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Sampling period of server RSS while a scenario runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// `USER_HZ`: the unit of CPU times in `/proc/<pid>/stat` (100 on every Linux we run on).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Herald,
    Axum,
    Nchan,
}

const SERVERS: [Server; 3] = [Server::Herald, Server::Axum, Server::Nchan];

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Herald => "herald",
            Self::Axum => "axum",
            Self::Nchan => "nchan",
        }
    }
}

/// One load shape (see the scenario list); `--quick` divides the sizes by ten.
#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    subscribers: usize,
    messages: u64,
    /// Publishes per second; 0 = as fast as the in-flight bound allows.
    rate: f64,
    in_flight: usize,
    /// Seconds to hold idle connections.
    hold: f64,
    /// Bound on loadgen's whole run, seconds.
    timeout: f64,
}

fn scenarios(quick: bool) -> Vec<Scenario> {
    let scale = |full: usize| if quick { full / 10 } else { full };
    let scale_messages = |full: u64| if quick { full / 10 } else { full };
    vec![
        Scenario {
            name: "idle",
            subscribers: scale(10_000),
            messages: 0,
            rate: 0.0,
            in_flight: 1,
            hold: if quick { 1.0 } else { 10.0 },
            timeout: 90.0,
        },
        Scenario {
            name: "fanout-1k",
            subscribers: scale(1_000),
            messages: scale_messages(2_000),
            rate: 0.0,
            in_flight: 4,
            hold: 0.0,
            timeout: 90.0,
        },
        Scenario {
            name: "fanout-10k",
            subscribers: scale(10_000),
            messages: scale_messages(200),
            rate: 100.0,
            in_flight: 4,
            hold: 0.0,
            timeout: 90.0,
        },
        Scenario {
            name: "steady",
            subscribers: scale(1_000),
            // 50 messages per second for 10 s (1 s quick).
            messages: scale_messages(500),
            rate: 50.0,
            in_flight: 2,
            hold: 0.0,
            timeout: 60.0,
        },
    ]
}

/// Metrics shown per scenario in the Markdown table, with whether higher is better.
const SHOWN: [(&str, &[&str]); 4] = [
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

fn higher_is_better(metric: &str) -> bool {
    matches!(
        metric,
        "deliveries_per_s" | "publish_rate" | "connected" | "published"
    )
}

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

/// Installs Debian's nginx-light and the Nchan module unless present (idempotent).
fn install_nchan(ctx: &Ctx) -> anyhow::Result<()> {
    if Path::new(NCHAN_MODULE).is_file() && Path::new(NGINX).is_file() {
        println!("==> nginx + nchan: installed");
        return Ok(());
    }
    if !is_root() {
        bail!(
            "Nchan is missing and installing it needs root: sudo apt-get install \
             --no-install-recommends nginx-light libnginx-mod-nchan"
        );
    }
    ctx.run(apt_get(ctx).arg("update"))?;
    let policy = Command::new("apt-cache")
        .args(["policy", "nginx-light", "libnginx-mod-nchan"])
        .output()
        .context("cannot run apt-cache")?;
    let policy = String::from_utf8_lossy(&policy.stdout);
    if policy.contains("Candidate: (none)") || !policy.contains("libnginx-mod-nchan:") {
        bail!("apt has no candidate for nginx-light or libnginx-mod-nchan:\n{policy}");
    }
    ctx.run(apt_get(ctx).args([
        "install",
        "-y",
        "--no-install-recommends",
        "nginx-light",
        "libnginx-mod-nchan",
    ]))?;
    if !Path::new(NCHAN_MODULE).is_file() {
        bail!("libnginx-mod-nchan is installed but {NCHAN_MODULE} is missing");
    }
    Ok(())
}

#[derive(Debug)]
struct Bins {
    herald: PathBuf,
    loadgen: PathBuf,
    axum: PathBuf,
    nchan_conf: String,
}

#[derive(Debug)]
struct Run {
    round: usize,
    scenario: &'static str,
    server: Server,
    metrics: BTreeMap<String, f64>,
}

/// A server process under test; stopped (by its own PID) when dropped.
#[derive(Debug)]
struct Running {
    child: Child,
    server: Server,
}

impl Running {
    /// The process and, for nginx, its workers.
    fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        pids.extend(children(self.child.id()));
        pids
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let workers = children(self.child.id());
        if self.server == Server::Nchan {
            // SIGQUIT: nginx's graceful stop, which also ends its workers.
            let _ = Command::new("kill")
                .args(["-QUIT", &self.child.id().to_string()])
                .status();
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for worker in workers {
            // Only if the graceful stop left one behind (it is ours: a child of our nginx).
            if Path::new(&format!("/proc/{worker}")).exists() {
                let _ = Command::new("kill")
                    .args(["-KILL", &worker.to_string()])
                    .status();
            }
        }
    }
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

fn start(
    bins: &Bins,
    work: &Path,
    server: Server,
    port: u16,
    log: &Path,
    options: Options,
) -> anyhow::Result<Running> {
    let bind = format!("127.0.0.1:{port}");
    let mut command = if options.pin {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", "0"]);
        taskset
    } else {
        // `env` with nothing to set: the same argv shape as `taskset -c 0 PROGRAM`.
        Command::new("env")
    };
    match server {
        Server::Herald => {
            command.arg(&bins.herald).args([
                "--bind",
                &bind,
                "--publish-token",
                TOKEN,
                "--open-topics",
                "bench",
                "--max-connections",
                "19500",
                "--history",
                "1000",
                "--client-buffer",
                "1024",
                "--heartbeat",
                "15s",
                "--dist",
                "/nonexistent",
            ]);
            if options.pin {
                command.args(["--workers", "1"]);
            }
            command.env("RUST_LOG", "warn");
        }
        Server::Axum => {
            command.arg(&bins.axum).arg(&bind);
            if options.pin {
                command.env("TOKIO_WORKER_THREADS", "1");
            }
        }
        Server::Nchan => {
            let dir = work.join(format!("nchan-{port}"));
            for sub in ["tmp", "logs"] {
                std::fs::create_dir_all(dir.join(sub))?;
            }
            let workers = if options.pin {
                "1".to_owned()
            } else {
                std::thread::available_parallelism()
                    .map_or(1, std::num::NonZeroUsize::get)
                    .to_string()
            };
            // As root, nginx would run its workers as `nobody`, who cannot write the prefix.
            let user = if is_root() { "user root;" } else { "" };
            let conf = bins
                .nchan_conf
                .replace("@PORT@", &port.to_string())
                .replace("@WORKERS@", &workers)
                .replace("@USER@", user);
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf)?;
            command
                .arg(NGINX)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.join("logs/error.log"))
                .args(["-g", "daemon off;"]);
        }
    }
    let log_file = std::fs::File::create(log)?;
    let child = command
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", server.name()))?;
    Ok(Running { child, server })
}

fn wait_listening(addr: SocketAddr, running: &Running, log: &Path) -> anyhow::Result<()> {
    let until = Instant::now() + START_TIMEOUT;
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !Path::new(&format!("/proc/{}", running.child.id())).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    bail!("the server did not listen on {addr}; its log:\n{log}")
}

/// A moment loadgen announced (`PHASE name` on its stdout), with the server's state then.
#[derive(Debug)]
struct Phase {
    name: String,
    cpu_ticks: f64,
    rss_kb: u64,
}

fn run_loadgen(
    bins: &Bins,
    server: Server,
    scenario: &Scenario,
    addr: SocketAddr,
    options: Options,
    pids: &[u32],
    profile: Option<&Path>,
) -> anyhow::Result<(BTreeMap<String, f64>, Vec<Phase>)> {
    let mut command = if options.pin {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", "1"]).arg(&bins.loadgen);
        taskset
    } else {
        Command::new(&bins.loadgen)
    };
    command
        .arg("run")
        .args(["--target", server.name()])
        .args(["--addr", &addr.to_string()])
        .args(["--token", TOKEN])
        .args(["--subscribers", &scenario.subscribers.to_string()])
        .args(["--messages", &scenario.messages.to_string()])
        .args(["--rate", &scenario.rate.to_string()])
        .args(["--in-flight", &scenario.in_flight.to_string()])
        .args(["--hold", &scenario.hold.to_string()])
        .args(["--timeout", &scenario.timeout.to_string()])
        .args(["--sources", "32"]);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start loadgen")?;
    let stdout = child.stdout.take().context("loadgen's stdout is piped")?;
    let pids = pids.to_vec();
    let profile = profile.map(Path::to_owned);
    let pin = options.pin;
    let reader = std::thread::spawn(move || {
        let (mut text, mut phases) = (String::new(), Vec::new());
        let mut recorder = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(name) = line.strip_prefix("PHASE ") {
                let name = name.trim();
                // The profile covers deliveries only: from the first publish to the last event.
                if let Some(running) = recorder.take_if(|_| name == "drained")
                    && let Err(err) = crate::profile::Recorder::stop(running)
                {
                    println!("    {err:#}");
                }
                phases.push(Phase {
                    name: name.to_owned(),
                    cpu_ticks: cpu_ticks(&pids),
                    rss_kb: rss_kb(&pids),
                });
                if let (Some(data), "publish") = (&profile, name) {
                    match crate::profile::Recorder::start(&pids, data, pin) {
                        Ok(running) => recorder = Some(running),
                        Err(err) => println!("    {err:#}"),
                    }
                }
            } else {
                text.push_str(&line);
                text.push('\n');
            }
        }
        (text, phases)
    });
    // loadgen bounds itself; this bound only catches a loadgen that hangs.
    let until = Instant::now() + Duration::from_secs_f64(scenario.timeout + 30.0);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            bail!("loadgen ran past its own timeout and was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (text, phases) = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("loadgen failed ({status})");
    }
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .context("loadgen printed no RESULT line")?;
    let mut metrics = BTreeMap::new();
    for pair in line.split_whitespace() {
        if let Some((key, text)) = pair.split_once('=') {
            let value = match text {
                "true" => Some(1.0),
                "false" => Some(0.0),
                number => number.parse().ok(),
            };
            if let Some(value) = value {
                metrics.insert(key.to_owned(), value);
            } else if key == "first_error" && !text.is_empty() {
                println!("    loadgen's first error: {text}");
            }
        }
    }
    Ok((metrics, phases))
}

/// A port free now on 127.0.0.1 (the server binds it a moment later; nothing else here races).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Direct children of `pid` (nginx's workers), from `/proc/<pid>/task/*/children`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            found.extend(
                text.split_whitespace()
                    .filter_map(|pid| pid.parse::<u32>().ok()),
            );
        }
    }
    found
}

/// Summed `VmRSS` of `pids`, in KiB.
fn rss_kb(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .sum()
}

/// Summed user + system CPU time of `pids`, in clock ticks.
fn cpu_ticks(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .sum()
}

type Medians = BTreeMap<(&'static str, &'static str), BTreeMap<String, f64>>;

/// The median of each metric over the rounds, per scenario and server.
fn medians(runs: &[Run]) -> Medians {
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

fn write_results(out: &Path, runs: &[Run], medians: &Medians) -> anyhow::Result<()> {
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

fn markdown(
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

fn cell(value: Option<&f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(value) if value.abs() >= 1000.0 => format!("{value:.0}"),
        Some(value) if value.abs() >= 10.0 => format!("{value:.1}"),
        Some(value) => format!("{value:.3}"),
    }
}

fn ratio(herald: Option<&f64>, peer: Option<&f64>) -> String {
    match (herald, peer) {
        (Some(herald), Some(peer)) if *peer != 0.0 => format!("{:.2}", herald / peer),
        (Some(herald), Some(_)) if *herald == 0.0 => "=".to_owned(),
        _ => "–".to_owned(),
    }
}

/// Cores, CPU, kernel, memory and versions, as a Markdown list.
fn machine_facts(ctx: &Ctx, options: Options) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let memory = read("/proc/meminfo")
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(String::new, |kb| format!("{} GiB", kb / 1024 / 1024));
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let nginx = Command::new("nginx")
        .arg("-v")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stderr).trim().to_owned())
        .unwrap_or_default();
    let nchan =
        first_line(Command::new("dpkg-query").args(["-W", "-f=${Version}", "libnginx-mod-nchan"]))
            .unwrap_or_default();
    let rustc = first_line(Command::new("rustc").arg("-V")).unwrap_or_default();
    let axum = read(
        &ctx.root
            .join("bench/baseline-axum/Cargo.lock")
            .to_string_lossy(),
    )
    .split("[[package]]")
    .find(|package| package.contains("name = \"axum\""))
    .and_then(|package| {
        package
            .lines()
            .find_map(|line| line.strip_prefix("version = "))
            .map(|version| version.trim_matches('"').to_owned())
    })
    .unwrap_or_default();
    let nofile = first_line(Command::new("sh").args(["-c", "ulimit -n"])).unwrap_or_default();
    let _ = options;
    format!(
        "- cores: {cores} ({cpu}), memory {memory}\n- kernel: {}\n- load average at start: \
         {}\n- open files per process: {nofile}\n- rustc: {rustc}; Herald built with \
         `--profile perf` (fat LTO), axum {axum} with `--release`\n- {nginx}, \
         libnginx-mod-nchan {nchan} (Debian)\n",
        read("/proc/sys/kernel/osrelease").trim(),
        read("/proc/loadavg").trim(),
    )
}
