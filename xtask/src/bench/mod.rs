//! `cargo xtask bench`: Herald against Nchan (nginx, C), Pushpin (C++/Rust, GRIP) and the
//! idiomatic axum broadcast server (`bench/baseline-axum/`), on the same scenarios, in one run.
//!
//! Each scenario runs on a freshly started server, the four servers taking turns in an order
//! that rotates every scenario, mode and round, so that noise from the rest of the machine hits
//! all alike; the full run repeats everything three times and reports medians. `loadgen`
//! drives the load and measures what clients see; [`measure`] measures the server from `/proc`;
//! [`report`] writes `bench.md`, `bench.tsv`, `runs.tsv`, and `loadgen chart` `bench.svg`, into
//! `bench/results/` (full) or `target/bench/quick/` (`--quick`, a tenth of the sizes, one
//! round, for development).
//!
//! Every scenario is measured in both [`pinning`] modes: pinned (each server on core 0 with one
//! worker, loadgen on core 1: the servers compare core for core) and unpinned (workers = cores,
//! nothing pinned: the machine as a deployment would use it). `--pin-only` and `--no-pin`
//! measure one of them.
//!
//! `--tls` adds Herald's fanout-1k over HTTPS beside its cleartext one, in each round and mode
//! the run measures; the report sets them side by side ([`tls`]).

mod driver;
mod install;
mod machine;
mod measure;
mod pinning;
mod procfs;
mod pushpin;
mod report;
mod scenarios;
mod servers;
mod tls;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};

use self::measure::{Subject, measure};
use self::pinning::{MODES, Mode};
use self::report::{Made, Run};
use self::scenarios::{Scenario, scenarios};
use self::servers::{Bins, SERVERS, Server};
use self::tls::Tls;
use crate::process::{Ctx, human};

/// Rounds of a full run; the report shows each metric's median over them.
const ROUNDS: usize = 3;

/// Options of one bench run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    quick: bool,
    /// Measures only this mode (`--pin-only`, `--no-pin`); both otherwise.
    only_mode: Option<Mode>,
    /// Runs only this scenario (development; results go to `target/bench/partial/`).
    only_scenario: Option<&'static str>,
    /// Runs only this server (development; results go to `target/bench/partial/`).
    only_server: Option<Server>,
    /// Profiles each server while it delivers (`perf record`; summaries into `profiles/`
    /// beside the results, perf's data into `target/bench/work/`).
    perf: bool,
    /// Rounds of a full run (`--rounds N`), when not [`ROUNDS`].
    rounds: Option<usize>,
    /// Measures Herald's fanout-1k over HTTPS too (`--tls`).
    tls: bool,
}

impl Options {
    /// Whether the run leaves something out, so that its results are not the committed kind.
    fn partial(self) -> bool {
        self.only_scenario.is_some() || self.only_server.is_some() || self.only_mode.is_some()
    }

    fn modes(self) -> Vec<Mode> {
        MODES
            .into_iter()
            .filter(|mode| self.only_mode.is_none_or(|only| only == *mode))
            .collect()
    }

    /// The command line that makes this run again, for the report.
    fn command(self) -> String {
        let mut command = String::new();
        if let Some(bin) = std::env::var_os("HERALD_BENCH_BIN") {
            let _ = write!(command, "HERALD_BENCH_BIN={} ", bin.to_string_lossy());
        }
        command.push_str("cargo xtask bench");
        if self.quick {
            command.push_str(" --quick");
        }
        if self.perf {
            command.push_str(" --perf");
        }
        if self.tls {
            command.push_str(" --tls");
        }
        if let Some(rounds) = self.rounds {
            let _ = write!(command, " --rounds {rounds}");
        }
        match self.only_mode {
            Some(Mode::Pinned) => command.push_str(" --pin-only"),
            Some(Mode::Unpinned) => command.push_str(" --no-pin"),
            None => {}
        }
        if let Some(name) = self.only_scenario {
            let _ = write!(command, " --scenario {name}");
        }
        if let Some(server) = self.only_server {
            let _ = write!(command, " --server {}", server.name());
        }
        command
    }
}

/// Parses `bench`'s arguments.
pub(crate) fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        quick: false,
        only_mode: None,
        only_scenario: None,
        only_server: None,
        perf: false,
        rounds: None,
        tls: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--no-pin" | "--pin-only" => {
                let mode = if arg == "--no-pin" {
                    Mode::Unpinned
                } else {
                    Mode::Pinned
                };
                if options.only_mode.is_some_and(|only| only != mode) {
                    bail!("--no-pin and --pin-only together leave nothing to measure");
                }
                options.only_mode = Some(mode);
            }
            "--perf" => options.perf = true,
            "--tls" => options.tls = true,
            "--rounds" => {
                let rounds = args.next().context("--rounds needs a number")?;
                let rounds: usize = rounds
                    .parse()
                    .ok()
                    .filter(|rounds| *rounds > 0)
                    .with_context(|| {
                        format!("--rounds takes a whole number above 0, got {rounds:?}")
                    })?;
                options.rounds = Some(rounds);
            }
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
                        .with_context(|| {
                            let names: Vec<_> =
                                SERVERS.iter().map(|server| server.name()).collect();
                            format!("no server {name:?}; there are {}", names.join(", "))
                        })?,
                );
            }
            other => bail!(
                "bench takes --quick, --pin-only, --no-pin, --perf, --tls, --rounds N, \
                 --scenario NAME and --server NAME, not {other:?}"
            ),
        }
    }
    if options.tls {
        // HTTPS is measured against Herald's cleartext fanout-1k: the run must include it.
        let scenario = options.only_scenario.unwrap_or(tls::SCENARIO);
        let server = options.only_server.unwrap_or(Server::Herald);
        if !tls::applies(server, scenario) {
            bail!(
                "--tls measures Herald's {} over HTTPS against its cleartext one, which \
                 --scenario {scenario} --server {} leaves out",
                tls::SCENARIO,
                server.name()
            );
        }
    }
    Ok(options)
}

/// The target directory cargo builds into: `$CARGO_TARGET_DIR` (relative to the workspace
/// root, as cargo reads it), or `target/`.
fn target_dir(ctx: &Ctx) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| ctx.root.join("target"), |dir| ctx.root.join(dir))
}

/// Builds what the bench runs: Herald and loadgen (`--profile perf`), the axum baseline
/// (`--release`, its own workspace and lock file, so that `cargo xtask test` never compiles
/// axum), and reads the peers' configuration templates.
fn build(ctx: &Ctx, target: &std::path::Path) -> anyhow::Result<Bins> {
    ctx.run(ctx.cargo().args([
        "build",
        "--profile",
        "perf",
        "-p",
        "server",
        "-p",
        "loadgen",
    ]))?;
    let axum_target = target.join("baseline-axum");
    ctx.run(
        ctx.cargo()
            .arg("build")
            .arg("--release")
            .arg("--manifest-path")
            .arg(ctx.root.join("bench/baseline-axum/Cargo.toml"))
            .arg("--target-dir")
            .arg(&axum_target),
    )?;
    let read = |path: &str| {
        std::fs::read_to_string(ctx.root.join(path)).with_context(|| format!("cannot read {path}"))
    };
    Ok(Bins {
        // Another build of Herald may be measured in its place (say, the commit before a
        // change, for a before/after profile).
        herald: std::env::var_os("HERALD_BENCH_BIN")
            .map_or_else(|| target.join("perf/server"), PathBuf::from),
        loadgen: target.join("perf/loadgen"),
        axum: axum_target.join("release/baseline-axum"),
        nchan_conf: read("bench/nchan/nginx.conf")?,
        pushpin_conf: read("bench/pushpin/pushpin.conf")?,
    })
}

/// The measurements of `subject`: in cleartext, and also over HTTPS when `tls` is given and
/// applies to it, the two in an order that alternates with `turn` (so that neither is always
/// the one measured on a machine that has just been busy).
fn transports<'a>(subject: Subject<'a>, tls: Option<&'a Tls>, turn: usize) -> Vec<Subject<'a>> {
    let Some(tls) = tls.filter(|_| tls::applies(subject.server, subject.scenario.name)) else {
        return vec![subject];
    };
    let https = Subject {
        tls: Some(tls),
        ..subject
    };
    if turn.is_multiple_of(2) {
        vec![subject, https]
    } else {
        vec![https, subject]
    }
}

/// Runs the whole benchmark and writes its results.
pub(crate) fn bench(ctx: &Ctx, options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    install::install_peers(ctx)?;
    if options.perf {
        crate::profile::install(ctx)?;
    }
    let target = target_dir(ctx);
    let bins = build(ctx, &target)?;
    let out = if options.partial() {
        target.join("bench/partial")
    } else if options.quick {
        target.join("bench/quick")
    } else {
        ctx.root.join("bench/results")
    };
    let work = target.join("bench/work");
    std::fs::create_dir_all(&out)?;
    std::fs::create_dir_all(&work)?;
    if options.perf {
        std::fs::create_dir_all(out.join("profiles"))?;
    }
    let machine = machine::machine_facts(ctx);
    let tls = if options.tls {
        Some(tls::certificate(
            ctx,
            &bins.loadgen,
            &target.join("bench/tls"),
        )?)
    } else {
        None
    };

    let rounds =
        if options.quick || options.only_scenario.is_some() || options.only_server.is_some() {
            1
        } else {
            options.rounds.unwrap_or(ROUNDS)
        };
    let modes = options.modes();
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
        for (mode_at, &mode) in modes.iter().enumerate() {
            for (at, scenario) in scenarios.iter().enumerate() {
                for turn in 0..SERVERS.len() {
                    let server = SERVERS[(round + mode_at + at + turn) % SERVERS.len()];
                    if options.only_server.is_some_and(|only| only != server) {
                        continue;
                    }
                    let subject = Subject {
                        server,
                        scenario,
                        mode,
                        round,
                        tls: None,
                    };
                    for subject in transports(subject, tls.as_ref(), round + mode_at) {
                        println!(
                            "==> round {}/{rounds}, {}, {} on {}{}",
                            round + 1,
                            mode.name(),
                            scenario.name,
                            server.name(),
                            if subject.tls.is_some() {
                                " over HTTPS"
                            } else {
                                ""
                            }
                        );
                        let metrics = measure(&bins, &work, &out, subject, options.perf)
                            .with_context(|| subject.describe())?;
                        runs.push(Run {
                            round,
                            mode,
                            scenario: scenario.name,
                            server,
                            tls: subject.tls.is_some(),
                            metrics,
                        });
                    }
                }
            }
        }
    }

    let medians = report::medians(&runs);
    report::write_results(&out, &runs, &medians)?;
    let command = options.command();
    let made = Made {
        command: &command,
        rounds,
        modes: &modes,
        machine: &machine,
    };
    std::fs::write(
        out.join("bench.md"),
        report::markdown(&medians, &scenarios, &made),
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        options(&args.iter().map(|&arg| arg.to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn tls_fits_the_runs_that_measure_heralds_fanout_1k() {
        let partial = parse(&[
            "--tls",
            "--server",
            "herald",
            "--scenario",
            "fanout-1k",
            "--no-pin",
        ])
        .expect("a partial run with --tls");
        assert!(partial.tls && partial.partial());
        assert_eq!(
            partial.command(),
            "cargo xtask bench --tls --no-pin --scenario fanout-1k --server herald"
        );
        assert!(!parse(&["--tls"]).expect("a full run with --tls").partial());
        for leaves_it_out in [
            &["--tls", "--scenario", "steady"][..],
            &["--tls", "--server", "axum"],
        ] {
            let err = parse(leaves_it_out).expect_err("nothing to compare");
            assert!(err.to_string().contains("--tls measures"), "{err}");
        }
    }

    #[test]
    fn https_beside_cleartext_in_alternating_order() {
        let scenarios = scenarios(true);
        let fanout = scenarios
            .iter()
            .find(|scenario| scenario.name == "fanout-1k")
            .expect("fanout-1k");
        let steady = scenarios
            .iter()
            .find(|scenario| scenario.name == "steady")
            .expect("steady");
        let tls = Tls {
            cert: PathBuf::from("cert.pem"),
            key: PathBuf::from("key.pem"),
        };
        let subject = |server, scenario| Subject {
            server,
            scenario,
            mode: Mode::Pinned,
            round: 0,
            tls: None,
        };
        let over_https = |subjects: Vec<Subject<'_>>| -> Vec<bool> {
            subjects
                .iter()
                .map(|subject| subject.tls.is_some())
                .collect()
        };
        let herald = subject(Server::Herald, fanout);
        assert_eq!(over_https(transports(herald, Some(&tls), 0)), [false, true]);
        assert_eq!(over_https(transports(herald, Some(&tls), 1)), [true, false]);
        assert_eq!(over_https(transports(herald, None, 0)), [false]);
        let others = [
            subject(Server::Axum, fanout),
            subject(Server::Herald, steady),
        ];
        for other in others {
            assert_eq!(over_https(transports(other, Some(&tls), 0)), [false]);
        }
    }
}
